//! The Trust Gateway's approval dashboard: a client-side Leptos app. An
//! approver (or admin) signs in with a passkey, sees risky calls the moment
//! they are proposed, and approves them with a passkey whose signature
//! covers exactly what the card shows. History, Skills, Policy, People and
//! the OAuth consent screen live here too.

mod api;
mod consent;
mod pages;
mod passkey;

use leptos::prelude::*;
/// The signed-in user (`/api/me`).
pub use tgw_dashboard::Me;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// The page named by the URL's hash (`#/history`), Approvals by default.
fn current_page() -> String {
    let hash = window().location().hash().unwrap_or_default();
    hash.trim_start_matches('#')
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The argument after the page in the URL's hash (`#/consent/<id>`).
fn page_argument() -> String {
    let hash = window().location().hash().unwrap_or_default();
    hash.trim_start_matches('#')
        .trim_start_matches('/')
        .split('/')
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

#[component]
fn App() -> impl IntoView {
    let (me, set_me) = signal(None::<Me>);
    let (checked, set_checked) = signal(false);
    let (page, set_page) = signal(current_page());
    let on_hash = window_event_listener(leptos::ev::hashchange, move |_| {
        set_page.set(current_page())
    });
    on_cleanup(move || on_hash.remove());
    leptos::task::spawn_local(async move {
        if let Ok(user) = api::get::<Me>("/api/me").await {
            api::set_csrf(&user.csrf);
            set_me.set(Some(user));
        }
        set_checked.set(true);
    });
    let enrolling = window().location().pathname().unwrap_or_default() == "/enroll";
    // Created here, owned by the App: the sign-in pages it is handed to go
    // away while it runs.
    let signed_in = Callback::new(move |user: Me| {
        api::set_csrf(&user.csrf);
        if enrolling {
            let _ = window().location().set_href("/#/approvals");
        } else {
            set_me.set(Some(user));
        }
    });

    view! {
        <Show when=move || checked.get() fallback=|| view! { <main><p class="note">"Loading…"</p></main> }>
            {move || match me.get() {
                None if enrolling => pages::Enroll(pages::EnrollProps { on_done: signed_in }).into_any(),
                None => pages::SignIn(pages::SignInProps {
                    on_done: signed_in,
                    connecting: page.get() == "consent",
                })
                .into_any(),
                // An app asks for consent: the screen stands alone, without
                // the dashboard around it.
                Some(user) if page.get() == "consent" => consent::Consent(consent::ConsentProps {
                    id: page_argument(),
                    me: user,
                })
                .into_any(),
                Some(user) => view! {
                    <Header user=user.clone() page=page/>
                    <main>
                        {move || match page.get().as_str() {
                            "history" => pages::History().into_any(),
                            "skills" => pages::Skills().into_any(),
                            "policy" => pages::Policy().into_any(),
                            "people" => pages::People(pages::PeopleProps { me: user.clone() }).into_any(),
                            _ => pages::Approvals().into_any(),
                        }}
                    </main>
                }
                .into_any(),
            }}
        </Show>
    }
}

#[component]
fn Header(user: Me, page: ReadSignal<String>) -> impl IntoView {
    let link = move |name: &'static str, label: &'static str| {
        let class = move || {
            let current = page.get();
            if current == name || (name == "approvals" && current.is_empty()) {
                "active"
            } else {
                ""
            }
        };
        view! { <a href=format!("#/{name}") class=class>{label}</a> }
    };
    view! {
        <header>
            <span class="brand">"Trust Gateway"</span>
            <nav>
                {link("approvals", "Approvals")}
                {link("history", "History")}
                {link("skills", "Skills")}
                {link("policy", "Policy")}
                {link("people", "People")}
            </nav>
            <span class="who">{format!("{} · {}", user.user, user.role)}</span>
        </header>
    }
}
