//! Names that mean something, as types (from `tgw-parse`), and random ids.

pub use tgw_parse::names::*;

/// `bytes` random bytes from the OS, base64url without padding: ids,
/// nonces, challenges, cookies and secrets.
pub fn random_b64(bytes: usize) -> String {
    use base64::Engine as _;
    let mut buffer = vec![0u8; bytes];
    fill_random(&mut buffer);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

/// Fills `buffer` from the OS's randomness.
#[expect(
    clippy::expect_used,
    reason = "without the OS's randomness no id, nonce or key is safe: stopping is the only safe answer"
)]
pub fn fill_random(buffer: &mut [u8]) {
    getrandom::fill(buffer).expect("the OS has randomness");
}

/// A new call id: 128 random bits.
pub fn new_call_id() -> CallId {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    CallId::from_random(bytes)
}

/// A new task id: 128 random bits.
pub fn new_task_id() -> TaskId {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    TaskId::from_random(bytes)
}

/// A new approval id: 128 random bits.
pub fn new_approval_id() -> ApprovalId {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    ApprovalId::from_random(bytes)
}

/// Whether a presented secret (a CSRF token, a hash of one) is the stored
/// one, in time that does not depend on where they first differ.
pub fn same_secret(presented: &str, stored: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    presented.as_bytes().ct_eq(stored.as_bytes()).into()
}
