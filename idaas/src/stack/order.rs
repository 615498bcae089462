//! The quickstart's order demo: identity propagation from shopping to delivery, run once as a
//! browser would.

use super::{Stack, StackError, USER};

/// The order flow of the quickstart, run once as a browser would: bob signs in at shopping
/// (password form, Allow on the consent page, auto-post to the ACS), then `POST /order`; the
/// demo's consent is withdrawn again at the end. Returns the backend's answer,
/// `{"shopping_saw", "delivery_saw"}`.
pub async fn demo_order(stack: &Stack) -> Result<serde_json::Value, StackError> {
    let b = stack.browser()?;
    let shop = &stack.agent_urls[0];
    let fail = |what: &str| StackError(format!("demo order: {what}"));
    let r = ctx!(b.get(format!("{shop}/saml/login?return_to=/")).send().await, "sign-in")?;
    let sso = crate::browser::location(&r).ok_or_else(|| fail("no redirect to the IdP"))?;
    let page = ctx!(ctx!(b.get(sso).send().await, "IdP")?.text().await, "IdP")?;
    let csrf = crate::browser::form_input(&page, "csrf").ok_or_else(|| fail("no login form"))?;
    let r = ctx!(
        b.post(format!("{}/saml/login", stack.home_url))
            .form(&[("csrf", csrf.as_str()), ("uid", USER), ("password", stack.password.as_str())])
            .send()
            .await,
        "login"
    )?;
    let page = ctx!(r.text().await, "login")?;
    let page = ctx!(crate::browser::through_consent(&b, &stack.home_url, page).await, "consent")?;
    let response =
        crate::browser::form_input(&page, "SAMLResponse").ok_or_else(|| fail("no SAML response"))?;
    let r = ctx!(
        b.post(format!("{shop}/saml/acs")).form(&[("SAMLResponse", response.as_str())]).send().await,
        "ACS"
    )?;
    if r.status() != reqwest::StatusCode::SEE_OTHER {
        return Err(fail(&format!("the shopping agent answered {}", r.status())));
    }
    let r = ctx!(b.post(format!("{shop}/order")).send().await, "order")?;
    if !r.status().is_success() {
        return Err(fail(&format!("POST /order answered {}", r.status())));
    }
    let answer = ctx!(r.json().await, "order answer")?;
    // The demo clicked Allow for bob; it withdraws that on his account page, so that bob's own
    // first sign-in in a browser shows him the consent page.
    let account = ctx!(
        ctx!(b.get(format!("{}/account", stack.home_url)).send().await, "account")?.text().await,
        "account"
    )?;
    let csrf = crate::browser::form_input(&account, "csrf").ok_or_else(|| fail("no account page"))?;
    let sp = format!("{shop}/saml/metadata");
    let r = ctx!(
        b.post(format!("{}/account/consent/revoke", stack.home_url))
            .form(&[("csrf", csrf.as_str()), ("sp", sp.as_str())])
            .send()
            .await,
        "withdrawing the demo's consent"
    )?;
    if !r.status().is_redirection() {
        return Err(fail(&format!("withdrawing the demo's consent answered {}", r.status())));
    }
    Ok(answer)
}
