//! The wallet's HTML: the list of stored values (rules in plain words, when each closes, who
//! can open it today — [`pbe_core::disclosure_view`], as on the home IdP's account page) and
//! the rules form with its preview (live, with the one static script the form page loads;
//! the Preview button does the same without it). Every dynamic value is escaped.

use axum::http::StatusCode;
use axum::response::Response;
use federation::api::{PiiSummary, ServiceSummary};
use pbe_core::disclosure_view::{describe, human_date};
use service_kit::html::{escape, links, page, CSP_FORMS_SELF};

use super::body::{FILE_FIELD, MAX_FILE};
use super::form::{FormInput, PurposeFields, PRESETS};
use super::server::SCRIPT_PATH;

/// The form page's content security policy: its forms post here, and its one script (the live
/// preview, [`SCRIPT_PATH`]) comes from this origin and fetches only from it; no inline script.
pub const CSP_FORM_SCRIPT: &str =
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
                                   form-action 'self'; frame-ancestors 'none'";

/// What the list page shows.
#[derive(Debug)]
pub struct IndexData<'a> {
    /// The person.
    pub user: &'a str,
    /// Their stored values.
    pub list: &'a [PiiSummary],
    /// The registered services.
    pub services: &'a [ServiceSummary],
    /// The home authority.
    pub home: &'a str,
    /// Today (days since 1970-01-01).
    pub today: u64,
    /// The forms' CSRF token.
    pub csrf: &'a str,
    /// Whether the local vault is on.
    pub vault: bool,
    /// Whether deleting needs a code from the authenticator app (no valid upload token).
    pub ask_code: bool,
    /// What was just done, when anything.
    pub notice: Option<&'a str>,
}

/// The list page.
pub fn index(d: &IndexData<'_>) -> Response {
    let mut body = format!(
        "<p class=\"lead\">Your data at the home IdP, as <strong>{}</strong>. Values are encrypted here, \
         on this computer, before they are uploaded.</p>",
        escape(d.user)
    );
    if let Some(n) = d.notice {
        body.push_str(&format!("<p role=\"status\">Done: {}.</p>", escape(n)));
    }
    body.push_str(if d.vault {
        "<p>Your local vault is on: values you save are kept here, encrypted with your passphrase, \
         so you can change their rules without typing them again.</p>"
    } else {
        "<p>Your local vault is off: to change the rules of a value you type it again.</p>"
    });
    if d.list.is_empty() {
        body.push_str("<p>You have not stored any personal data yet.</p>");
    } else {
        body.push_str(
            "<table><caption>Each value and the services that could open it today</caption><thead><tr>\
             <th scope=\"col\">Value</th><th scope=\"col\">Rules</th><th scope=\"col\">Closes</th>\
             <th scope=\"col\">Who can open it today</th><th scope=\"col\"><span class=\"muted\">Actions</span></th>\
             </tr></thead><tbody>",
        );
        for p in d.list {
            let code = if d.ask_code {
                format!(
                    "<label for=\"code-{a}\">Code from your authenticator app</label> \
                     <input type=\"text\" id=\"code-{a}\" name=\"code\" inputmode=\"numeric\" \
                     autocomplete=\"one-time-code\" size=\"8\" required> ",
                    a = escape(&p.attribute)
                )
            } else {
                String::new()
            };
            let rules = describe(&p.policy, d.home);
            let closes = match rules.closes {
                Some(day) if day < d.today => format!("closed on {}", human_date(day)),
                Some(day) => human_date(day),
                None => "never".into(),
            };
            let who = super::server::readers(&p.policy, d.services, d.home, d.today);
            let who = if who.is_empty() { "nobody".to_owned() } else { who.join(", ") };
            body.push_str(&format!(
                "<tr><th scope=\"row\">{a}</th><td>{t}<details><summary>Exact rule</summary><code>{p}</code></details></td>\
                 <td>{c}</td><td class=\"readers\">{w}</td><td><a href=\"/edit?attr={a}\" aria-label=\"Change rules of {a}\">Change rules</a> \
                 <form class=\"inline\" method=\"post\" action=\"/delete\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"attr\" value=\"{a}\">{code}\
                 <button type=\"submit\" class=\"danger\" aria-label=\"Delete {a}\">Delete</button></form></td></tr>",
                a = escape(&p.attribute),
                t = escape(&rules.text),
                p = escape(&p.policy),
                c = escape(&closes),
                w = escape(&who),
                csrf = escape(d.csrf),
            ));
        }
        body.push_str("</tbody></table>");
    }
    body.push_str(&links(&[("/edit", "Add a value")]));
    page(StatusCode::OK, "Your wallet", &body, CSP_FORMS_SELF)
}

/// The preview under the form.
#[derive(Debug)]
pub struct Preview {
    /// The rules in the short form (`idaas pii put --rules`).
    pub short: String,
    /// The compiled policy.
    pub policy: String,
    /// The rules in a sentence.
    pub sentence: String,
    /// The registered services that could open it today.
    pub readers: Vec<String>,
}

/// What the form page shows.
#[derive(Debug)]
pub struct FormData<'a> {
    /// The form's fields.
    pub form: &'a FormInput,
    /// The domains to choose from (the federation's authorities but the home one).
    pub domains: &'a [String],
    /// The preview, after "Preview".
    pub preview: Option<&'a Preview>,
    /// What is wrong, after a refused save.
    pub error: Option<&'a str>,
    /// The CSRF token.
    pub csrf: &'a str,
    /// Whether the vault is on.
    pub vault: bool,
    /// Whether the vault keeps a value under this name.
    pub kept: bool,
    /// Whether saving needs a code from the authenticator app (no valid upload token).
    pub ask_code: bool,
    /// The answer's status.
    pub status: StatusCode,
}

fn checkboxes(name: &str, legend: &str, options: &[String], ticked: &[String]) -> String {
    let mut out = format!("<fieldset><legend>{}</legend>", escape(legend));
    for (i, o) in options.iter().enumerate() {
        let on = if ticked.contains(o) { " checked" } else { "" };
        out.push_str(&format!(
            "<label for=\"{n}-{i}\"><input type=\"checkbox\" id=\"{n}-{i}\" name=\"{n}\" value=\"{v}\"{on}> {v}</label> ",
            n = escape(name),
            v = escape(o),
        ));
    }
    out
}

fn text_input(name: &str, label: &str, value: &str, extra: &str) -> String {
    format!(
        "<p><label for=\"{n}\">{l}</label> <input type=\"text\" id=\"{n}\" name=\"{n}\" value=\"{v}\"{extra}></p>",
        n = escape(name),
        l = escape(label),
        v = escape(value),
    )
}

/// The purposes and primary purposes fieldsets; `suffix` is appended to every field name
/// (`@amazon` for a domain's own), `whose` to the legends (" for amazon").
fn purpose_fields(suffix: &str, whose: &str, f: &PurposeFields) -> String {
    let presets: Vec<String> = PRESETS.iter().map(|p| (*p).to_owned()).collect();
    let mut out = checkboxes(
        &format!("purpose{suffix}"),
        &format!("For which purposes{whose} (any of them)"),
        &presets,
        &f.purposes,
    );
    out.push_str(&text_input(
        &format!("purposes_other{suffix}"),
        &format!("Other purposes{whose} (comma-separated)"),
        &f.purposes_other,
        "",
    ));
    out.push_str("</fieldset>");
    out.push_str(&checkboxes(
        &format!("primary{suffix}"),
        &format!("Only when the primary purpose{whose} is (optional)"),
        &presets,
        &f.primary,
    ));
    out.push_str(&text_input(
        &format!("primary_other{suffix}"),
        &format!("Other primary purposes{whose}"),
        &f.primary_other,
        "",
    ));
    out.push_str("</fieldset>");
    out
}

/// The add/edit form, with the preview or the error when there is one.
pub fn form(d: &FormData<'_>) -> Response {
    let f = d.form;
    let mut body = String::new();
    if let Some(e) = d.error {
        body.push_str(&format!("<p role=\"alert\" class=\"error\">{}</p>", escape(e)));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/save\" enctype=\"multipart/form-data\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(d.csrf)
    ));
    body.push_str(&text_input(
        "attr",
        "Name of the value (e.g. phone)",
        &f.attr,
        " required maxlength=\"64\"",
    ));
    let hint = match (d.vault, d.kept) {
        (true, true) => "Leave empty to keep the value in your vault.",
        (true, false) => "The vault keeps it after you save.",
        (false, _) => "Type the value (needed again to change its rules: the vault is off).",
    };
    body.push_str(&format!(
        "<p><label for=\"value\">Value</label> <span class=\"muted\" id=\"value-hint\">{}</span><br>\
         <textarea id=\"value\" name=\"value\" rows=\"3\" cols=\"40\" aria-describedby=\"value-hint\" autocomplete=\"off\">{}</textarea></p>",
        escape(hint),
        escape(&f.value)
    ));
    body.push_str(&format!(
        "<p><label for=\"{FILE_FIELD}\">Or the value from a file</label> \
         <span class=\"muted\" id=\"file-hint\">At most {} KiB; a chosen file is used instead of the text.</span><br>\
         <input type=\"file\" id=\"{FILE_FIELD}\" name=\"{FILE_FIELD}\" aria-describedby=\"file-hint\"></p>",
        MAX_FILE / 1024
    ));
    body.push_str(&checkboxes("domain", "Which domains may read it", d.domains, &f.domains));
    body.push_str("</fieldset>");
    body.push_str(&purpose_fields("", "", &f.general));
    // A domain's own purposes, folded away unless it has some: most rules need none.
    for domain in d.domains {
        let fields = f.own.get(domain).cloned().unwrap_or_default();
        let open = if fields.is_empty() { "" } else { " open" };
        body.push_str(&format!(
            "<details class=\"own-purposes\"{open}><summary>Purposes for {d} only</summary>\
             <p class=\"muted\">Leave empty to use the purposes above. Purposes given here replace them \
             (and the primary ones) for {d}.</p>{fields}</details>",
            d = escape(domain),
            fields = purpose_fields(&format!("@{domain}"), &format!(" for {domain}"), &fields),
        ));
    }
    body.push_str(&text_input(
        "country",
        "Only in countries (comma-separated, empty: anywhere)",
        &f.country,
        "",
    ));
    let (days_on, until_on) = if f.life == "until" { ("", " checked") } else { (" checked", "") };
    body.push_str(&format!(
        "<fieldset><legend>For how long</legend>\
         <p><label for=\"from\">From (YYYY-MM-DD, empty: today)</label> <input type=\"text\" id=\"from\" name=\"from\" value=\"{from}\" inputmode=\"numeric\"></p>\
         <p><label for=\"life-days\"><input type=\"radio\" id=\"life-days\" name=\"life\" value=\"days\"{days_on}> for a number of days</label> \
         <label for=\"days\">Days</label> <input type=\"number\" id=\"days\" name=\"days\" min=\"1\" max=\"99999\" value=\"{days}\"></p>\
         <p><label for=\"life-until\"><input type=\"radio\" id=\"life-until\" name=\"life\" value=\"until\"{until_on}> until a day</label> \
         <label for=\"until\">Last day (YYYY-MM-DD)</label> <input type=\"text\" id=\"until\" name=\"until\" value=\"{until}\"></p></fieldset>",
        from = escape(&f.from),
        days = escape(&f.days),
        until = escape(&f.until),
    ));
    if d.ask_code {
        body.push_str(
            "<p><label for=\"code\">Code from your authenticator app</label> \
             <span class=\"muted\" id=\"code-hint\">Saving needs a fresh sign-in every few minutes.</span><br>\
             <input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
             aria-describedby=\"code-hint\"></p>",
        );
    }
    body.push_str(
        "<p><button type=\"submit\" formaction=\"/preview\" class=\"secondary\">Preview</button> \
         <button type=\"submit\">Encrypt and save</button></p></form>",
    );
    body.push_str("<div id=\"preview-area\" aria-live=\"polite\">");
    if let Some(p) = d.preview {
        let who =
            if p.readers.is_empty() { "no registered service".to_owned() } else { p.readers.join(", ") };
        body.push_str(&format!(
            "<section aria-labelledby=\"preview\"><h2 id=\"preview\">Preview</h2><p>{s}</p>\
             <p>Could open it today: <strong id=\"preview-readers\">{w}</strong></p>\
             <p>Short form: <code id=\"preview-short\">{short}</code></p><p>Policy: <code>{pol}</code></p></section>",
            s = escape(&p.sentence),
            w = escape(&who),
            short = escape(&p.short),
            pol = escape(&p.policy),
        ));
    }
    body.push_str("</div>");
    body.push_str(&links(&[("/", "Back to your data")]));
    body.push_str(&format!("<script src=\"{SCRIPT_PATH}\"></script>"));
    let title = if f.attr.is_empty() { "Add a value" } else { "Set a value and its rules" };
    page(d.status, title, &body, CSP_FORM_SCRIPT)
}
