//! The OAuth consent screen (`#/consent/<id>`): an app such as Claude.ai
//! asks to use the gateway in the signed-in person's name. `/authorize`
//! sent the browser here; the person sees who asks, where they will be
//! sent back to and what the app may do, and allows or denies. Either way
//! the gateway answers with the URL to go back to.

use leptos::prelude::*;
use leptos::task::spawn_local;
use tgw_dashboard::{ConsentDecision, ConsentRequest, Redirect};

use crate::{Me, api};

/// What each scope lets the app do, in the person's words.
fn describe(scope: &str) -> &'static str {
    match scope {
        "mcp:execute" => "connect to this gateway over MCP",
        "tools:list" => "see the tools you may use",
        "tools:call" => {
            "propose tool calls in your name (risky calls still wait for a person's passkey)"
        }
        _ => "something this page does not know",
    }
}

#[component]
pub fn Consent(id: String, me: Me) -> impl IntoView {
    let path = format!("/api/oauth/requests/{id}");
    let request = LocalResource::new({
        let path = path.clone();
        move || {
            let path = path.clone();
            async move { api::get::<ConsentRequest>(&path).await }
        }
    });
    let (error, set_error) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let decide = move |allow: bool| {
        let path = path.clone();
        set_busy.set(true);
        set_error.set(None);
        spawn_local(async move {
            match api::post::<Redirect>(&path, &ConsentDecision { allow }).await {
                Ok(answer) => {
                    let _ = window().location().set_href(&answer.redirect);
                }
                Err(e) => {
                    let _ = set_error.try_set(Some(e));
                    let _ = set_busy.try_set(false);
                }
            }
        });
    };
    let allow = {
        let decide = decide.clone();
        move |_| decide(true)
    };
    let deny = move |_| decide(false);
    let show = move |request: ConsentRequest| {
        let name = request
            .client_name
            .clone()
            .unwrap_or_else(|| request.client_id.clone());
        let vouched = if request.client_id_is_url {
            format!("Its name comes from {}.", request.client_id)
        } else {
            "Anyone can register an app under any name: check where you will be sent back to."
                .into()
        };
        view! {
            <h1>{format!("Connect {name}?")}</h1>
            <p>{format!("{name} asks to use the Trust Gateway as {}.", request.user)}</p>
            <p class="note">{vouched}</p>
            <dl>
                <dt>"You will be sent back to"</dt>
                <dd><strong class="redirect-host">{request.redirect_host.clone()}</strong>
                    <br/><code>{request.redirect_uri.clone()}</code></dd>
                <dt>"It may"</dt>
                <dd><ul class="scopes">
                    {request.scopes.iter().map(|scope| view! {
                        <li><code>{scope.clone()}</code>" — "{describe(scope)}</li>
                    }).collect_view()}
                </ul></dd>
            </dl>
        }
    };
    view! {
        <main class="signin panel consent">
            <Suspense fallback=|| view! { <p class="note">"Loading…"</p> }>
                {move || request.get().map(|result| match result {
                    Ok(request) => view! {
                        {show(request)}
                        <div class="actions">
                            <button class="primary" on:click=allow.clone() disabled=move || busy.get()>"Allow"</button>
                            <button class="danger" on:click=deny.clone() disabled=move || busy.get()>"Deny"</button>
                        </div>
                    }.into_any(),
                    Err(e) => view! {
                        <h1>"Nothing to connect"</h1>
                        <p class="error">{e}</p>
                    }.into_any(),
                })}
            </Suspense>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
            <p class="note">{format!("Signed in as {}. You can revoke this connection on the People page.", me.user)}</p>
        </main>
    }
}
