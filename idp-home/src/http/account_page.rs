//! The account page's HTML (`GET /account` when signed in): the person's stored attributes
//! with their rules in plain words, the date each closes and a delete button; who can see
//! what today, per registered service; where they are signed in, with "sign out
//! everywhere"; links on. Every dynamic value is escaped.

use axum::http::StatusCode;
use axum::response::Response;
use service_kit::html::{escape, links};

use crate::model::ServiceProvider;
use crate::service::disclosure_view::{could_open, describe, human_date};
use crate::sso_sessions::IdpSession;
use crate::state::AppState;
use crate::store::StoreError;

/// Unix seconds as "1 Dec 2026, 11:40 UTC".
pub fn human_time(unix: i64) -> String {
    let days = u64::try_from(unix.div_euclid(86_400)).unwrap_or(0);
    let secs = unix.rem_euclid(86_400);
    format!("{}, {:02}:{:02} UTC", human_date(days), secs / 3600, secs % 3600 / 60)
}

/// The page for `session`; `csrf` is the account forms' token, `logout_csrf` the sign-out
/// form's.
pub fn render(
    state: &AppState,
    session: &IdpSession,
    csrf: &str,
    logout_csrf: &str,
) -> Result<Response, StoreError> {
    let now = state.clock.now();
    let today = state.clock.today().unwrap_or(0);
    let home = state.config.authority.as_str();
    let records = state.store.list_pii(&session.uid)?;
    let sps = state.store.list_sps()?;
    let mut body = format!("<p class=\"lead\">Signed in as <strong>{}</strong>.</p>", escape(&session.uid));

    body.push_str("<h2 id=\"data\">Your data and who may read it</h2>");
    if records.is_empty() {
        body.push_str(
            "<p>You have not stored any personal data here yet. Your data-owner tool \
             (<code>idaas pii put</code>) encrypts each value on your device under rules you choose.</p>",
        );
    } else {
        body.push_str(
            "<table><caption>Each value is encrypted on your device; these rules decide which services can open it.</caption>\
             <thead><tr><th scope=\"col\">Value</th><th scope=\"col\">Rules</th><th scope=\"col\">Closes</th><th scope=\"col\"><span class=\"muted\">Action</span></th></tr></thead><tbody>",
        );
        for r in &records {
            let rules = describe(&r.policy, home);
            let closes = match rules.closes {
                Some(d) if d < today => format!("closed on {}", human_date(d)),
                Some(d) => human_date(d),
                None => "never".into(),
            };
            body.push_str(&format!(
                "<tr><th scope=\"row\">{a}</th><td>{t}<details><summary>Exact rule</summary><code>{p}</code></details></td><td>{c}</td>\
                 <td><form class=\"inline\" method=\"post\" action=\"/account/pii/delete\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"attribute\" value=\"{a}\">\
                 <button type=\"submit\" class=\"danger\" aria-label=\"Delete {a}\">Delete</button></form></td></tr>",
                a = escape(&r.attribute),
                t = escape(&rules.text),
                p = escape(&r.policy),
                c = escape(&closes),
                csrf = escape(csrf),
            ));
        }
        body.push_str("</tbody></table>");
    }

    body.push_str("<h2 id=\"who\">Who can see what today</h2>");
    body.push_str(&who_table(&sps, &records, home, today));

    body.push_str("<h2 id=\"consents\">Services you allowed or denied</h2>");
    body.push_str(&consents(&state.store.list_consents(&session.uid)?, &sps, csrf));

    body.push_str(&super::access::section(state, &session.uid, csrf)?);

    body.push_str("<h2 id=\"sessions\">Where you are signed in</h2><ul>");
    for s in state.sso.sessions_of(&session.uid, now) {
        let here = if s.id == session.id { " (this browser)" } else { "" };
        let mut went: Vec<String> = s
            .participants
            .iter()
            .map(|p| {
                sps.iter()
                    .find(|sp| sp.entity_id == p.sp)
                    .map_or_else(|| p.sp.clone(), ServiceProvider::shown_name)
            })
            .collect();
        went.dedup();
        let went = if went.is_empty() { "no service yet".to_owned() } else { went.join(", ") };
        body.push_str(&format!(
            "<li>Signed in {}{here}, until {}; signed in to: {}</li>",
            escape(&human_time(s.authn_instant)),
            escape(&human_time(s.expires)),
            escape(&went)
        ));
    }
    body.push_str(&format!(
        "</ul><form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"everywhere\" value=\"1\">\
         <button type=\"submit\" class=\"secondary\">Sign out everywhere</button></form>",
        escape(logout_csrf)
    ));
    body.push_str(&links(&[
        ("/account/password", "Change your password"),
        ("/account/security", "Sign-in security"),
        ("/logout", "Sign out"),
    ]));
    Ok(crate::saml::html::idp_page(state, StatusCode::OK, "Your account", &body))
}

/// The consents given, each with what it covers, when, and a revoke button.
fn consents(list: &[crate::model::Consent], sps: &[ServiceProvider], csrf: &str) -> String {
    if list.is_empty() {
        return "<p>You have not allowed any service to read your data yet. A service asks the first time \
                you sign in to it.</p>"
            .into();
    }
    let mut out = String::from(
        "<table><caption>Withdrawing an answer makes the service ask again at your next sign-in; \
         what it already read is not taken back.</caption><thead><tr><th scope=\"col\">Service</th>\
         <th scope=\"col\">May read</th><th scope=\"col\">Answered on</th>\
         <th scope=\"col\"><span class=\"muted\">Action</span></th></tr></thead><tbody>",
    );
    for c in list {
        let name = sps
            .iter()
            .find(|sp| sp.entity_id == c.sp)
            .map_or_else(|| c.sp.clone(), ServiceProvider::shown_name);
        let what = if c.denied {
            "nothing: you denied it (it signs you in without your personal data)".to_owned()
        } else if c.attributes.is_empty() {
            "nothing".to_owned()
        } else {
            c.attributes.join(", ")
        };
        out.push_str(&format!(
            "<tr><th scope=\"row\">{n}</th><td>{w}</td><td>{t}</td>\
             <td><form class=\"inline\" method=\"post\" action=\"/account/consent/revoke\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"sp\" value=\"{sp}\">\
             <button type=\"submit\" class=\"danger\" aria-label=\"Withdraw consent for {n}\">Withdraw</button></form></td></tr>",
            n = escape(&name),
            w = escape(&what),
            t = escape(&human_time(c.granted)),
            csrf = escape(csrf),
            sp = escape(&c.sp),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// One row per registered service: which stored values it could open after a sign-in today.
fn who_table(sps: &[ServiceProvider], records: &[crate::model::PiiRecord], home: &str, today: u64) -> String {
    if sps.is_empty() {
        return "<p>No service is registered with this identity provider.</p>".into();
    }
    let mut out = String::from(
        "<table><caption>Computed from each value's rules and what each service would hold after a sign-in today \
         (its domain, country and registered purposes).</caption><thead><tr><th scope=\"col\">Service</th>\
         <th scope=\"col\">Could read</th><th scope=\"col\">Cannot read</th></tr></thead><tbody>",
    );
    for sp in sps {
        let (yes, no): (Vec<&str>, Vec<&str>) = if sp.pbe.is_some() {
            let (y, n): (Vec<_>, Vec<_>) =
                records.iter().partition(|r| could_open(&r.policy, sp, home, today));
            (
                y.iter().map(|r| r.attribute.as_str()).collect(),
                n.iter().map(|r| r.attribute.as_str()).collect(),
            )
        } else {
            (Vec::new(), records.iter().map(|r| r.attribute.as_str()).collect())
        };
        let yes = if yes.is_empty() { "nothing".to_owned() } else { yes.join(", ") };
        let no = if no.is_empty() { "—".to_owned() } else { no.join(", ") };
        let detail = match &sp.pbe {
            Some(p) => format!("domain {}, {}", p.domain, p.country.to_uppercase()),
            None => "gets no personal data".to_owned(),
        };
        out.push_str(&format!(
            "<tr><th scope=\"row\">{}<br><span class=\"muted\">{}</span></th><td>{}</td><td>{}</td></tr>",
            escape(&sp.shown_name()),
            escape(&detail),
            escape(&yes),
            escape(&no)
        ));
    }
    out.push_str("</tbody></table>");
    out
}

#[cfg(test)]
mod tests {
    use super::human_time;

    #[test]
    fn times_read_as_day_month_year_and_utc_clock() {
        assert_eq!(human_time(1_760_011_200), "9 Oct 2025, 12:00 UTC");
        assert_eq!(human_time(0), "1 Jan 1970, 00:00 UTC");
        // Before 1970 (a broken clock) is shown on day 0, never a panic.
        assert_eq!(human_time(-5), "1 Jan 1970, 23:59 UTC");
    }
}
