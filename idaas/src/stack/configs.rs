//! The TOML snippets the quickstart writes for its agents (also readable examples).

use std::path::Path;

use pbe_core::SuiteId;

use super::GROUP;

/// A `[[partners]]` entry.
pub fn partner_toml(name: &str, url: &str, tat_key: &str) -> String {
    format!("\n[[partners]]\nname = \"{name}\"\nurl = \"{url}\"\ntat_key = \"{tat_key}\"\n")
}

/// A `[[callers]]` entry.
pub fn caller_toml(name: &str, public_key: &str, prefixes: &[&str]) -> String {
    let prefixes: Vec<String> = prefixes.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "\n[[callers]]\nname = \"{name}\"\npublic_key = \"{public_key}\"\nallowed_prefixes = [{}]\n",
        prefixes.join(", ")
    )
}

/// The group whose owners approve shopping's sales reports (issue 20). No one owns it until
/// an administrator says so (`PUT /admin/groups/shop-managers/owners`).
pub const REPORTS_APPROVERS: &str = "shop-managers";

/// Shopping's sensitive path: `/reports` opens to customers only with the approval of an owner
/// of [`REPORTS_APPROVERS`], for an hour at a time (a readable example of `sensitive`).
pub fn sensitive_reports_toml() -> String {
    format!(
        "\n[[access.rules]]\nprefix = \"/reports\"\ngroups = {{ {GROUP} = \"read\" }}\n\
         sensitive = {{ approvers = \"owner of {REPORTS_APPROVERS}\", valid_for = \"1h\" }}\n"
    )
}

/// The agent configuration the quickstart writes (also a readable example).
pub fn agent_toml(
    public_url: &str,
    backend_url: &str,
    data_dir: &Path,
    metadata: &Path,
    token_endpoint: &str,
    client_id: &str,
    suite: SuiteId,
) -> String {
    format!(
        r#"public_url = "{public_url}"
backend_url = "{backend_url}"
data_dir = "{data}"
suite = "{suite}"

[home_idp]
metadata_file = "{metadata}"

[visitor]
token_endpoint = "{token_endpoint}"
client_id = "{client_id}"

[access]
default_level = "none"
admin_paths = ["/admin"]

[[access.rules]]
prefix = "/"
groups = {{ {GROUP} = "read_write" }}
"#,
        data = data_dir.display(),
        metadata = metadata.display(),
    )
}
