//! The dashboard's pages.

use futures::StreamExt;
use gloo_net::websocket::{Message, futures::WebSocket};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};
use tgw_dashboard::{
    ApprovalChallenge, ApproveRequest, AuditPage, Decided, DenyRequest, FeedEvent, GroupsRequest,
    GroupsSet, InviteRequest, Invited, PendingApproval, PendingApprovals, PolicyView, Revoked,
    Skills, UpdateDecided, UpdateDecision,
};

use crate::{Me, api, passkey};

fn now_millis() -> i64 {
    js_sys::Date::now() as i64
}

#[component]
pub fn SignIn(
    on_done: Callback<Me>,
    /// An app waits for this person's consent (`#/consent/...`).
    connecting: bool,
) -> impl IntoView {
    let (error, set_error) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let sign_in = move |_| {
        let _ = set_busy.try_set(true);
        let _ = set_error.try_set(None);
        spawn_local(async move {
            let result = async {
                let begin: Value = api::post("/api/login/begin", &json!({})).await?;
                let mut assertion =
                    passkey::get(&json!({"challenge": begin["challenge"], "rpId": begin["rpId"]}))
                        .await?;
                assertion["challenge"] = begin["challenge"].clone();
                api::post::<Me>("/api/login/finish", &assertion).await
            }
            .await;
            let _ = set_busy.try_set(false);
            match result {
                Ok(me) => on_done.run(me),
                Err(e) => {
                    let _ = set_error.try_set(Some(e));
                }
            }
        });
    };
    view! {
        <main class="signin panel">
            <h1>"Trust Gateway"</h1>
            {if connecting {
                view! { <p class="note connecting">"An app asks to connect to this gateway in your name. Sign in with your passkey to see what it asks for."</p> }.into_any()
            } else {
                view! { <p class="note">"Sign in with your passkey to see and decide the calls that wait for a human."</p> }.into_any()
            }}
            <div class="stack">
                <button class="primary" on:click=sign_in disabled=move || busy.get()>"Sign in with a passkey"</button>
            </div>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
            <p class="note">"No account yet? Ask an admin for an enrollment link (tgw users invite)."</p>
        </main>
    }
}

#[component]
pub fn Enroll(on_done: Callback<Me>) -> impl IntoView {
    let token = window()
        .location()
        .hash()
        .unwrap_or_default()
        .trim_start_matches('#')
        .to_owned();
    let (name, set_name) = signal(String::new());
    let (error, set_error) = signal(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let _ = set_error.try_set(None);
        let token = token.clone();
        let name = name.get();
        spawn_local(async move {
            let result = async {
                let mut options: Value = api::post("/api/enroll/begin", &json!({"token": token})).await?;
                options["name"] = json!(name);
                let created = passkey::create(&options).await?;
                let body = json!({
                    "token": token, "name": name, "challenge": options["challenge"],
                    "client_data_json": created["client_data_json"], "attestation_object": created["attestation_object"],
                });
                api::post::<Me>("/api/enroll/finish", &body).await
            }
            .await;
            match result {
                Ok(me) => on_done.run(me),
                Err(e) => {
                    let _ = set_error.try_set(Some(e));
                }
            }
        });
    };
    view! {
        <main class="signin panel">
            <h1>"Enroll"</h1>
            <p class="note">"Choose your user name and create a passkey on this device. The link works once."</p>
            <form on:submit=submit>
                <input id="name" placeholder="your name (lowercase)" required
                    on:input=move |ev| set_name.set(event_target_value(&ev)) prop:value=move || name.get()/>
                <button class="primary" type="submit">"Create my passkey"</button>
            </form>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </main>
    }
}

/// Live cards: loaded once, then kept current by `/api/events`.
#[component]
pub fn Approvals() -> impl IntoView {
    let (cards, set_cards) = signal(Vec::<PendingApproval>::new());
    let (error, set_error) = signal(None::<String>);
    let (now, set_now) = signal(now_millis());
    let reload = move || {
        spawn_local(async move {
            match api::get::<PendingApprovals>("/api/approvals").await {
                Ok(pending) => {
                    let _ = set_cards.try_set(pending.approvals);
                }
                Err(e) => {
                    let _ = set_error.try_set(Some(e));
                }
            }
        })
    };
    reload();
    spawn_local(async move {
        let Ok(location) = window().location().host() else {
            return;
        };
        let scheme = if window().location().protocol().unwrap_or_default() == "https:" {
            "wss"
        } else {
            "ws"
        };
        let Ok(mut socket) = WebSocket::open(&format!("{scheme}://{location}/api/events")) else {
            return;
        };
        while let Some(Ok(Message::Text(text))) = socket.next().await {
            match serde_json::from_str::<FeedEvent>(&text) {
                Ok(FeedEvent::Pending { approval }) => {
                    let card = *approval;
                    let added = set_cards.try_update(|cards| {
                        if !cards.iter().any(|c| c.id == card.id) {
                            cards.push(card);
                        }
                    });
                    if added.is_none() {
                        return; // the page was left
                    }
                }
                Ok(FeedEvent::Decided { id, .. }) => {
                    if set_cards
                        .try_update(|cards| cards.retain(|c| c.id != id))
                        .is_none()
                    {
                        return;
                    }
                }
                Ok(FeedEvent::Resync) | Err(_) => reload(),
            }
        }
    });
    spawn_local(async move {
        loop {
            gloo_timers::future::TimeoutFuture::new(1000).await;
            if set_now.try_set(now_millis()).is_some() {
                return; // the page was left
            }
        }
    });
    view! {
        <h1>"Approvals"</h1>
        {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        <Show
            when=move || !cards.get().is_empty()
            fallback=|| view! {
                <div class="panel empty">
                    <p><strong>"Nothing waits for you."</strong></p>
                    <p>"When an agent proposes a call that policy says needs a human, it appears here at once."</p>
                </div>
            }
        >
            <div class="cards">
                <For
                    each=move || cards.get()
                    key=|card| card.id.clone()
                    children=move |card| view! { <Card card=card now=now cards=set_cards/> }
                />
            </div>
        </Show>
    }
}

#[component]
fn Card(
    card: PendingApproval,
    now: ReadSignal<i64>,
    cards: WriteSignal<Vec<PendingApproval>>,
) -> impl IntoView {
    // The live feed may remove this card (and dispose its signals) before
    // our own request returns: only ever `try_` them after an await.
    let on_decided = move |id: String| {
        cards.try_update(|cards| cards.retain(|c| c.id != id));
    };
    let (reason, set_reason) = signal(String::new());
    let (error, set_error) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let id = card.id.clone();
    let expires = card.expires;
    let approve = {
        let id = id.clone();
        move |_| {
            let id = id.clone();
            let _ = set_busy.try_set(true);
            let _ = set_error.try_set(None);
            spawn_local(async move {
                let result = async {
                    let challenge: ApprovalChallenge =
                        api::post(&format!("/api/approvals/{id}/challenge"), &json!({})).await?;
                    let options = json!({
                        "challenge": challenge.challenge, "rpId": challenge.rp_id,
                        "allowCredentials": challenge.allow_credentials,
                    });
                    let mut assertion = passkey::get(&options).await?;
                    assertion["nonce"] = json!(challenge.nonce);
                    let approve: ApproveRequest =
                        serde_json::from_value(assertion).map_err(|e| e.to_string())?;
                    api::post::<Decided>(&format!("/api/approvals/{id}/approve"), &approve).await
                }
                .await;
                let _ = set_busy.try_set(false);
                match result {
                    Ok(_) => on_decided(id),
                    Err(e) => {
                        let _ = set_error.try_set(Some(e));
                    }
                }
            });
        }
    };
    let deny = move |_| {
        let id = id.clone();
        let why = reason.get();
        if why.trim().is_empty() {
            let _ = set_error.try_set(Some("Say why you deny the call.".into()));
            return;
        }
        let _ = set_busy.try_set(true);
        spawn_local(async move {
            let result = api::post::<Decided>(
                &format!("/api/approvals/{id}/deny"),
                &DenyRequest { reason: why },
            )
            .await;
            let _ = set_busy.try_set(false);
            match result {
                Ok(_) => on_decided(id),
                Err(e) => {
                    let _ = set_error.try_set(Some(e));
                }
            }
        });
    };
    let countdown = move || {
        let left = ((expires - now.get()) / 1000).max(0);
        format!("{}:{:02} left", left / 60, left % 60)
    };
    view! {
        <article class="panel card" data-approval=card.id.clone()>
            <h2>
                {format!("{}.{}", card.skill, card.tool)}
                <span class=format!("badge risk-{}", card.risk)>{card.risk.clone()}</span>
                <span class="countdown">{countdown}</span>
            </h2>
            <dl>
                <dt>"Requested by"</dt><dd>{card.principal.clone()}</dd>
                <dt>"Policy"</dt><dd>{format!("{}: {}", card.rule.clone().unwrap_or_else(|| "default".into()), card.reason)}</dd>
                <dt>"Component"</dt><dd><code class="component">{card.component.clone()}</code></dd>
                <dt>"Input hash"</dt><dd><code class="input-hash">{card.input_hash.clone()}</code></dd>
            </dl>
            // Exactly the canonical bytes the grant binds, in full (the
            // box scrolls), with what nobody can see written out.
            <pre class="canonical">{card.shown.clone()}</pre>
            {(!card.warnings.is_empty()).then(|| view! {
                <ul class="warnings">
                    {card.warnings.iter().map(|w| view! { <li class="warning">{w.clone()}</li> }).collect_view()}
                </ul>
            })}
            <div class="actions">
                <button class="primary" on:click=approve disabled=move || busy.get()>"Approve with passkey"</button>
                <input placeholder="reason to deny" on:input=move |ev| set_reason.set(event_target_value(&ev))/>
                <button class="danger" on:click=deny disabled=move || busy.get()>"Deny"</button>
            </div>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </article>
    }
}

/// A page that shows one JSON document from the API. `path` is reactive:
/// when a signal it reads changes (a filter, a refresh), the page reloads.
fn loaded<T, V>(
    path: impl Fn() -> String + Send + Sync + 'static,
    show: impl Fn(T) -> V + Send + Sync + Copy + 'static,
) -> impl IntoView
where
    T: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let data = LocalResource::new(move || {
        let path = path();
        async move { api::get::<T>(&path).await }
    });
    view! {
        <Suspense fallback=|| view! { <p class="note">"Loading…"</p> }>
            {move || data.get().map(|result| match result {
                Ok(value) => show(value).into_any(),
                Err(e) => view! { <p class="error">{e}</p> }.into_any(),
            })}
        </Suspense>
    }
}

fn query_value(value: &str) -> String {
    js_sys::encode_uri_component(value.trim()).into()
}

#[component]
pub fn History() -> impl IntoView {
    let (kind, set_kind) = signal(String::new());
    let (call, set_call) = signal(String::new());
    let (limit, set_limit) = signal("200".to_owned());
    let path = move || {
        let mut path = format!("/api/audit?limit={}", query_value(&limit.get()));
        if !kind.get().is_empty() {
            path += &format!("&kind={}", query_value(&kind.get()));
        }
        if !call.get().trim().is_empty() {
            path += &format!("&call={}", query_value(&call.get()));
        }
        path
    };
    view! {
        <h1>"History"</h1>
        <div class="panel actions filters">
            <label>"What "
                <select name="kind" on:change=move |ev| set_kind.set(event_target_value(&ev))>
                    <option value="">"everything"</option>
                    <option value="proposal">"proposals"</option>
                    <option value="decision">"policy decisions"</option>
                    <option value="approval">"approvals"</option>
                    <option value="grant">"grants"</option>
                    <option value="execution">"executions"</option>
                    <option value="call.refused">"refused calls"</option>
                </select>
            </label>
            <input name="call" placeholder="call id" on:change=move |ev| set_call.set(event_target_value(&ev))/>
            <label>"Show "
                <select name="limit" on:change=move |ev| set_limit.set(event_target_value(&ev))>
                    <option value="50">"50"</option>
                    <option value="200" selected>"200"</option>
                    <option value="1000">"1000"</option>
                </select>
                " newest"
            </label>
        </div>
        {loaded(path, |history: AuditPage| {
            let chain = if history.chain.intact {
                view! { <p class="chain-ok">{format!("The audit chain is intact: {} entries.", history.chain.entries.unwrap_or_default())}</p> }.into_any()
            } else {
                view! { <p class="chain-broken">{format!("The audit chain is broken: {}", history.chain.problem.unwrap_or_default())}</p> }.into_any()
            };
            let rows = history.entries;
            if rows.is_empty() {
                return view! { <div class="panel">{chain}<p class="empty">"Nothing matches. Calls appear here once an agent proposes one."</p></div> }.into_any();
            }
            view! {
                <div class="panel">
                    {chain}
                    <table class="audit">
                        <thead><tr><th>"#"</th><th>"When"</th><th>"What"</th><th>"Call"</th><th>"Detail"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|e| view! {
                                <tr>
                                    <td>{e.seq.to_string()}</td>
                                    <td>{js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(e.ts as f64)).to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED).as_string().unwrap_or_default()}</td>
                                    <td>{e.kind}</td>
                                    <td><code>{e.call}</code></td>
                                    <td><code>{e.detail.to_string()}</code></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        })}
    }
}

#[component]
pub fn Skills() -> impl IntoView {
    let (error, set_error) = signal(None::<String>);
    let (notice, set_notice) = signal(None::<String>);
    // Bumped after a decision so the page reloads.
    let (version, set_version) = signal(0u32);
    // Accept or reject a waiting update, naming the digest shown.
    let decide = move |name: String, digest: String, accept: bool| {
        spawn_local(async move {
            let verb = if accept { "accept" } else { "reject" };
            let path = format!("/api/skills/pending/{}/{verb}", query_value(&name));
            match api::post::<UpdateDecided>(&path, &UpdateDecision { digest }).await {
                Ok(done) => {
                    let said = if done.accepted {
                        format!("{} {} now serves.", done.name, done.version)
                    } else {
                        format!(
                            "The update of {} to {} was rejected; the installed version keeps serving.",
                            done.name, done.version
                        )
                    };
                    let _ = set_error.try_set(None);
                    let _ = set_notice.try_set(Some(said));
                    let _ = set_version.try_update(|v| *v += 1);
                }
                Err(e) => {
                    let _ = set_error.try_set(Some(e));
                }
            }
        })
    };
    view! {
        <h1>"Skills"</h1>
        {move || notice.get().map(|n| view! { <p class="notice">{n}</p> })}
        {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        {loaded(move || { version.track(); "/api/skills".into() }, move |skills: Skills| {
            let pending = skills.pending.into_iter().map(|update| {
                let (name, digest) = (update.name.clone(), update.digest.clone());
                let (reject_name, reject_digest) = (name.clone(), digest.clone());
                let from = format!(
                    "from {} · signed by publisher {}",
                    update.source.unwrap_or_else(|| "a registry".into()),
                    update.publisher
                );
                view! {
                    <div class="panel pending-update">
                        <h2>{format!("Update waiting for an admin: {} {}", update.name, update.version)}</h2>
                        <p class="note">{from}</p>
                        <p class="note"><code>{update.digest}</code></p>
                        <ul class="changes">{update.changes.into_iter().map(|c| view! {
                            <li class=if c.widens { "change widens" } else { "change" }>
                                {c.what}
                                {c.widens.then(|| view! { " " <span class="badge risk-destructive">"widens"</span> })}
                            </li>
                        }).collect_view()}</ul>
                        <p class="note">"Until an admin accepts it, the installed version keeps serving."</p>
                        <button class="primary" on:click=move |_| decide(name.clone(), digest.clone(), true)>"Accept update"</button>
                        " "
                        <button class="danger" on:click=move |_| decide(reject_name.clone(), reject_digest.clone(), false)>"Reject"</button>
                    </div>
                }
            }).collect_view();
            let list = skills.skills;
            let dev = skills.dev.then(|| view! {
                <div class="panel warning dev-mode">
                    "Development mode: this gateway loads skill folders that nobody signed (--dev). Do not run a deployment like this."
                </div>
            });
            let refused = (!skills.refused.is_empty()).then(|| view! {
                <div class="panel refused">
                    <h2>"Left out"</h2>
                    <ul>{skills.refused.into_iter().map(|why| view! { <li class="error">{why}</li> }).collect_view()}</ul>
                </div>
            });
            if list.is_empty() {
                return view! { {dev} {refused} {pending} <div class="panel empty">"No skills are loaded. Put skill folders in the skills directory and restart."</div> }.into_any();
            }
            let cards = list.into_iter().map(|skill| {
                let caps = &skill.capabilities;
                let dirs: Vec<String> = caps.dirs.iter().map(|d| format!("{} ({})", d.guest, d.access)).collect();
                let audience = if skill.groups.is_empty() && skill.roles.is_empty() {
                    "everyone".to_owned()
                } else {
                    skill.groups.iter().chain(&skill.roles).cloned().collect::<Vec<_>>().join(", ")
                };
                let summary = format!(
                    "for {audience} · files: {} · HTTP: {} · fuel {} · {} MiB · {} ms",
                    if dirs.is_empty() { "none".to_owned() } else { dirs.join(", ") },
                    if caps.http.is_empty() { "none".to_owned() } else { caps.http.join(", ") },
                    caps.fuel, caps.memory_mib, caps.timeout_ms
                );
                let tools = skill.tools;
                view! {
                    <div class="panel">
                        <h2>{format!("{} {}", skill.name, skill.version)}</h2>
                        <p class="note"><code>{skill.component}</code></p>
                        <p class="note provenance">{skill.provenance}</p>
                        <p class="note">{summary}</p>
                        <table>
                            <thead><tr><th>"Tool"</th><th>"Risk"</th><th>"What it does"</th></tr></thead>
                            <tbody>{tools.into_iter().map(|t| {
                                let risk = t.risk;
                                view! {
                                    <tr>
                                        <td>{t.name}</td>
                                        <td><span class=format!("badge risk-{risk}")>{risk.clone()}</span></td>
                                        <td>{t.description}</td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    </div>
                }
            }).collect_view();
            view! { {dev} {refused} {pending} {cards} }.into_any()
        })}
    }
}

#[component]
pub fn Policy() -> impl IntoView {
    view! {
        <h1>"Policy"</h1>
        {loaded(|| "/api/policy".into(), |policy: PolicyView| view! {
            <div class="panel">
                <p>{format!("{} — ", policy.path)}<code>{policy.digest}</code></p>
                <p class="note">{format!("Rules, in order: {}", policy.rules.join(" · "))}</p>
                <pre>{policy.text}</pre>
            </div>
        })}
    }
}

#[component]
pub fn People(me: Me) -> impl IntoView {
    let (invite, set_invite) = signal(None::<String>);
    let (error, set_error) = signal(None::<String>);
    // Bumped after a change so the list reloads.
    let (version, set_version) = signal(0u32);
    let make_invite = move |role: &'static str| {
        spawn_local(async move {
            let invite = InviteRequest {
                role: role.to_owned(),
            };
            match api::post::<Invited>("/api/people/invite", &invite).await {
                Ok(made) => {
                    let _ = set_invite.try_set(Some(made.link));
                }
                Err(e) => {
                    let _ = set_invite.try_set(Some(e));
                }
            }
        })
    };
    // Revoke a person's tokens, then say how many ended.
    let revoke = move |name: String| {
        spawn_local(async move {
            let path = format!("/api/people/{}/revoke", query_value(&name));
            match api::post::<Revoked>(&path, &json!({})).await {
                Ok(done) => {
                    let _ = set_error.try_set(None);
                    let _ = set_invite.try_set(Some(format!(
                        "Revoked {}'s tokens: {} connected client(s), {} personal token(s).",
                        done.name, done.oauth_grants, done.personal_tokens
                    )));
                }
                Err(e) => {
                    let _ = set_error.try_set(Some(e));
                }
            }
        })
    };
    // Disable a person, then reload the list.
    let disable = move |name: String| {
        spawn_local(async move {
            let path = format!("/api/people/{}/disable", query_value(&name));
            match api::post::<tgw_dashboard::Disabled>(&path, &json!({})).await {
                Ok(_) => {
                    let _ = set_error.try_set(None);
                    let _ = set_version.try_update(|v| *v += 1);
                }
                Err(e) => {
                    let _ = set_error.try_set(Some(e));
                }
            }
        })
    };
    // A person's groups, in full, from the row's editor ("billing, support").
    let save_groups = move |name: String, text: String| {
        spawn_local(async move {
            let groups: Vec<String> = text
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect();
            let path = format!("/api/people/{}/groups", query_value(&name));
            match api::post::<GroupsSet>(&path, &GroupsRequest { groups }).await {
                Ok(_) => {
                    let _ = set_error.try_set(None);
                    let _ = set_version.try_update(|v| *v += 1);
                }
                Err(e) => {
                    let _ = set_error.try_set(Some(e));
                }
            }
        })
    };
    // Enable a suspended passkey again, then reload the list.
    let enable = move |name: String, id: String| {
        spawn_local(async move {
            let path = format!(
                "/api/people/{}/passkeys/{}/enable",
                query_value(&name),
                query_value(&id)
            );
            match api::post::<tgw_dashboard::PasskeyEnabled>(&path, &json!({})).await {
                Ok(_) => {
                    let _ = set_error.try_set(None);
                    let _ = set_version.try_update(|v| *v += 1);
                }
                Err(e) => {
                    let _ = set_error.try_set(Some(e));
                }
            }
        })
    };
    let me = StoredValue::new(me.user);
    view! {
        <h1>"People"</h1>
        <div class="panel actions">
            <button on:click=move |_| make_invite("approver")>"Invite an approver"</button>
            <button on:click=move |_| make_invite("user")>"Invite a user"</button>
            <button on:click=move |_| make_invite("auditor")>"Invite an auditor"</button>
            <button on:click=move |_| make_invite("admin")>"Invite an admin"</button>
            {move || invite.get().map(|link| view! { <code class="invite">{link}</code> })}
        </div>
        {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        {loaded(move || { version.track(); "/api/people".into() }, move |people: tgw_dashboard::People| {
            let list = people.people;
            let me = me.get_value();
            view! {
                <div class="panel">
                    <table>
                        <thead><tr><th>"Name"</th><th>"Role"</th><th>"Groups"</th><th>"State"</th><th>"Passkeys"</th><th></th></tr></thead>
                        <tbody>{list.into_iter().map(|p| {
                            let name = p.name.clone();
                            let active = !p.disabled;
                            let can_disable = active && name != me;
                            let target = name.clone();
                            let revoked = name.clone();
                            let label = name.clone();
                            let grouped = name.clone();
                            let groups = p.groups.join(", ");
                            let (draft, set_draft) = signal(groups.clone());
                            view! {
                                <tr data-person=name>
                                    <td>{label}</td>
                                    <td>{p.role.clone()}</td>
                                    <td class="groups">
                                        <span class="group-list">{if groups.is_empty() { "none".to_owned() } else { groups }}</span>
                                        <input class="group-editor" placeholder="billing, support"
                                            prop:value=move || draft.get()
                                            on:input=move |ev| set_draft.set(event_target_value(&ev)) />
                                        <button class="save-groups" on:click=move |_| save_groups(grouped.clone(), draft.get_untracked())>"Save groups"</button>
                                    </td>
                                    <td>{if active { "active" } else { "disabled" }}</td>
                                    <td class="passkeys">
                                        {p.passkeys.len()}
                                        {p.passkeys.into_iter().filter_map(|k| {
                                            let why = k.suspended?;
                                            let (owner, id) = (name.clone(), k.id.clone());
                                            Some(view! {
                                                <div class="suspended" data-passkey=k.id>
                                                    <span class="badge risk-destructive">"suspended"</span>
                                                    <span class="note">{why}</span>
                                                    <button class="enable-passkey" on:click=move |_| enable(owner.clone(), id.clone())>"Enable again"</button>
                                                </div>
                                            })
                                        }).collect_view()}
                                    </td>
                                    <td class="actions">
                                        <button on:click=move |_| revoke(revoked.clone())>"Revoke tokens"</button>
                                        {can_disable.then(|| view! {
                                            <button class="danger" on:click=move |_| disable(target.clone())>"Disable"</button>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}</tbody>
                    </table>
                </div>
            }
        })}
    }
}
