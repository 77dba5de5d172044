//! Talking to the gateway's `/api`: JSON, the session cookie (sent by the
//! browser), and the CSRF token on every state-changing request.

use std::cell::RefCell;

use gloo_net::http::Request;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tgw_dashboard::ApiError;

thread_local! {
    static CSRF: RefCell<String> = const { RefCell::new(String::new()) };
}

pub fn set_csrf(token: &str) {
    CSRF.with(|c| *c.borrow_mut() = token.to_owned());
}

async fn read<T: DeserializeOwned>(response: gloo_net::http::Response) -> Result<T, String> {
    if response.ok() {
        response.json::<T>().await.map_err(|e| e.to_string())
    } else {
        match response.json::<ApiError>().await {
            Ok(refused) => Err(refused.error),
            Err(_) => Err(format!("the gateway answered {}", response.status())),
        }
    }
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, String> {
    let response = Request::get(path).send().await.map_err(|e| e.to_string())?;
    read(response).await
}

pub async fn post<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> Result<T, String> {
    let csrf = CSRF.with(|c| c.borrow().clone());
    let response = Request::post(path)
        .header("x-csrf-token", &csrf)
        .json(body)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| e.to_string())?;
    read(response).await
}
