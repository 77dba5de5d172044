//! Execution grants: one table of cases, run against the host's verifier
//! (`tgw_proto::grant`) and against the grant-verifier component in the
//! sandbox. Both must give the same answer for every case.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/forge.rs"]
mod forge;

use forge::{forge, malleate, with};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use tgw::grant::{
    Claims, Expectations, GrantSigner, TrustedKey, UnverifiedGrant, VerifyError, key_id,
};
use tgw::runtime::{GrantCheckError, Runtime};

const NOW: i64 = 1_800_000_000;
const SEED: [u8; 32] = [7; 32];
const INPUT_HASH: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
const AUDIENCE: &str = "default";

fn claims() -> Value {
    json!({
        "iss": "tgw", "aud": AUDIENCE, "sub": "alice", "jti": B64.encode([9u8; 16]),
        "iat": NOW, "nbf": NOW, "exp": NOW + 30,
        "skill": "invoices", "tool": "refund_invoice",
        "component": format!("sha256:{}", "a".repeat(64)),
        "input_hash": INPUT_HASH,
        "policy": format!("sha256:{}", "b".repeat(64)),
    })
}

fn kid() -> String {
    key_id(&SigningKey::from_bytes(&SEED).verifying_key())
}

fn header() -> Value {
    json!({"alg": "EdDSA", "typ": "tgw-grant+jwt", "kid": kid()})
}

fn signed(header: Value, claims: Value) -> String {
    forge(
        &header.to_string(),
        &claims.to_string(),
        &SigningKey::from_bytes(&SEED),
    )
}

struct Case {
    name: &'static str,
    token: String,
    now: i64,
    audience: &'static str,
    input_hash: &'static str,
    expected: Result<(), VerifyError>,
}

fn case(name: &'static str, token: String, expected: Result<(), VerifyError>) -> Case {
    Case {
        name,
        token,
        now: NOW,
        audience: AUDIENCE,
        input_hash: INPUT_HASH,
        expected,
    }
}

fn table() -> Vec<Case> {
    let valid = signed(header(), claims());
    let other_key = SigningKey::from_bytes(&[8; 32]);
    let header_b64 = B64.encode(header().to_string());
    let claims_b64 = B64.encode(claims().to_string());
    let mut cases = vec![
        case("valid", valid.clone(), Ok(())),
        case(
            "signed by the gateway's own signer type",
            GrantSigner::from_seed(&SEED)
                .sign(&serde_json::from_value::<Claims>(claims()).unwrap())
                .token()
                .to_owned(),
            Ok(()),
        ),
        case(
            "alg none",
            forge::alg_none(&header(), &claims()),
            Err(VerifyError::WrongAlgorithm("none".into())),
        ),
        case(
            "alg HS256 keyed with the public key",
            forge::hs256_with_public_key(&SigningKey::from_bytes(&SEED), &claims()),
            Err(VerifyError::WrongAlgorithm("HS256".into())),
        ),
        case(
            "unknown kid",
            signed(with(header(), "kid", json!("AAAAAAAAAAAAAAAA")), claims()),
            Err(VerifyError::UnknownKey("AAAAAAAAAAAAAAAA".into())),
        ),
        case(
            "kid with path characters",
            signed(
                with(header(), "kid", json!("../../keys/signing.key")),
                claims(),
            ),
            Err(VerifyError::Malformed(
                "key id \"../../keys/signing.key\" has characters outside A-Z a-z 0-9 - _".into(),
            )),
        ),
        case(
            "jku header",
            signed(
                with(header(), "jku", json!("https://evil.example/jwks")),
                claims(),
            ),
            Err(VerifyError::ForbiddenHeader("jku".into())),
        ),
        case(
            "jwk header",
            signed(with(header(), "jwk", json!({"kty": "OKP"})), claims()),
            Err(VerifyError::ForbiddenHeader("jwk".into())),
        ),
        case(
            "x5u header",
            signed(
                with(header(), "x5u", json!("https://evil.example/x5u")),
                claims(),
            ),
            Err(VerifyError::ForbiddenHeader("x5u".into())),
        ),
        case(
            "wrong typ",
            signed(with(header(), "typ", json!("JWT")), claims()),
            Err(VerifyError::WrongType("JWT".into())),
        ),
        case(
            "signed by an untrusted key under a trusted kid",
            forge(&header().to_string(), &claims().to_string(), &other_key),
            Err(VerifyError::BadSignature),
        ),
        case(
            "non-canonical signature (S >= L)",
            malleate(&valid),
            Err(VerifyError::BadSignature),
        ),
        case(
            "payload changed after signing",
            {
                let sig = valid.rsplit_once('.').unwrap().1;
                format!(
                    "{header_b64}.{}.{sig}",
                    B64.encode(with(claims(), "sub", json!("mallory")).to_string())
                )
            },
            Err(VerifyError::BadSignature),
        ),
        case(
            "expired",
            signed(
                header(),
                with(
                    with(claims(), "iat", json!(NOW - 40)),
                    "nbf",
                    json!(NOW - 40),
                )
                .pipe(|c| with(c, "exp", json!(NOW - 10))),
            ),
            Err(VerifyError::Expired),
        ),
        case(
            "iat in the future",
            signed(
                header(),
                with(
                    with(
                        with(claims(), "iat", json!(NOW + 60)),
                        "nbf",
                        json!(NOW + 60),
                    ),
                    "exp",
                    json!(NOW + 80),
                ),
            ),
            Err(VerifyError::NotYetValid),
        ),
        case(
            "exp - iat over 30",
            signed(header(), with(claims(), "exp", json!(NOW + 31))),
            Err(VerifyError::LifetimeTooLong),
        ),
        case(
            "wrong audience",
            signed(header(), with(claims(), "aud", json!("other-pool"))),
            Err(VerifyError::WrongAudience("other-pool".into())),
        ),
        case(
            "arguments changed after the grant",
            signed(
                header(),
                with(
                    claims(),
                    "input_hash",
                    json!(format!("sha256:{}", "f".repeat(64))),
                ),
            ),
            Err(VerifyError::HashMismatch),
        ),
        case(
            "four parts",
            format!("{valid}.x"),
            Err(VerifyError::Malformed(
                "a token is three base64url parts separated by dots".into(),
            )),
        ),
        case(
            "padding in base64",
            format!("{header_b64}=.{claims_b64}.x"),
            Err(VerifyError::Malformed(
                "the header is not base64url without padding".into(),
            )),
        ),
        case(
            "duplicate header key",
            forge(
                &format!(
                    r#"{{"alg":"EdDSA","typ":"tgw-grant+jwt","kid":"{}","alg":"none"}}"#,
                    kid()
                ),
                &claims().to_string(),
                &SigningKey::from_bytes(&SEED),
            ),
            Err(VerifyError::Malformed(String::new())),
        ),
        case(
            "extra claim",
            signed(header(), with(claims(), "admin", json!(true))),
            Err(VerifyError::BadClaim(String::new())),
        ),
        case(
            "missing claim",
            signed(header(), {
                let mut c = claims();
                c.as_object_mut().unwrap().remove("policy");
                c
            }),
            Err(VerifyError::BadClaim(String::new())),
        ),
        case(
            "jti not 128 bits",
            signed(header(), with(claims(), "jti", json!("abc"))),
            Err(VerifyError::BadClaim(
                "jti is not 128 bits of base64url".into(),
            )),
        ),
        case(
            "component not a digest",
            signed(header(), with(claims(), "component", json!("files.wasm"))),
            Err(VerifyError::BadClaim(
                "component is not a sha256: digest".into(),
            )),
        ),
        case(
            "token far too long",
            format!("{}.{}.{}", "A".repeat(70_000), claims_b64, "x"),
            Err(VerifyError::Malformed("the token is too long".into())),
        ),
        case(
            "not a token at all",
            "hello".into(),
            Err(VerifyError::Malformed(
                "a token is three base64url parts separated by dots".into(),
            )),
        ),
    ];
    for (name, field, value) in [
        ("exp as a string", "exp", json!((NOW + 30).to_string())),
        ("iat as a float", "iat", json!(NOW as f64 + 0.5)),
        ("nbf as null", "nbf", Value::Null),
    ] {
        cases.push(case(
            name,
            signed(header(), with(claims(), field, value)),
            Err(VerifyError::BadClaim(String::new())),
        ));
    }
    let mut leeway_ok = case(
        "expired a second ago, within the leeway",
        valid.clone(),
        Ok(()),
    );
    leeway_ok.now = NOW + 31;
    let mut leeway_over = case(
        "expired beyond the 2 s leeway",
        valid.clone(),
        Err(VerifyError::Expired),
    );
    leeway_over.now = NOW + 32;
    let mut wrong_pool = case(
        "presented to another pool",
        valid.clone(),
        Err(VerifyError::WrongAudience(AUDIENCE.into())),
    );
    wrong_pool.audience = "payments";
    let mut other_args = case(
        "presented with other arguments",
        valid,
        Err(VerifyError::HashMismatch),
    );
    other_args.input_hash =
        "sha256:0000000000000000000000000000000000000000000000000000000000000002";
    cases.extend([leeway_ok, leeway_over, wrong_pool, other_args]);
    cases
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl Pipe for Value {}

/// Errors whose detail comes from serde_json are compared by kind only.
fn same(got: &Result<(), VerifyError>, expected: &Result<(), VerifyError>) -> bool {
    match (got, expected) {
        (Err(VerifyError::Malformed(_)), Err(VerifyError::Malformed(e))) if e.is_empty() => true,
        (Err(VerifyError::BadClaim(_)), Err(VerifyError::BadClaim(e))) if e.is_empty() => true,
        _ => got == expected,
    }
}

#[tokio::test]
async fn host_and_component_agree_on_every_case() {
    let trusted = vec![
        TrustedKey::new(SigningKey::from_bytes(&SEED).verifying_key()),
        TrustedKey::new(SigningKey::from_bytes(&[3; 32]).verifying_key()),
    ];
    let runtime = Runtime::new(Some(
        &std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"),
    ))
    .unwrap();
    let verifier = runtime
        .load_verifier(tgw::guests::GRANT_VERIFIER_WASM)
        .unwrap();
    let mut failures = Vec::new();
    let cases = table();
    assert!(cases.len() >= 30);
    for case in &cases {
        let grant = UnverifiedGrant::from_token(case.token.clone());
        let expect = Expectations {
            trusted: &trusted,
            audience: case.audience,
            now: case.now,
            input_hash: case.input_hash,
        };
        let host = grant.verify(&expect).map(|v| v.claims().clone());
        let component = runtime
            .verify_grant(&verifier, &grant, &expect)
            .await
            .map_err(|e| match e {
                GrantCheckError::Refused(e) => e,
                GrantCheckError::Sandbox(s) => {
                    panic!("{}: the verifier did not finish: {s}", case.name)
                }
            });
        if !same(&host.clone().map(|_| ()), &case.expected) {
            failures.push(format!(
                "{}: host said {:?}, expected {:?}",
                case.name,
                host.as_ref().map(|_| ()),
                case.expected
            ));
        }
        if host != component {
            failures.push(format!(
                "{}: host {:?} and component {:?} disagree",
                case.name, host, component
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_unverified_grant_shows_no_claims_even_when_debug_printed() {
    let token = signed(header(), claims());
    let grant = UnverifiedGrant::from_token(token.clone());
    assert_eq!(
        format!("{grant:?}"),
        format!("UnverifiedGrant({} bytes)", token.len())
    );
}
