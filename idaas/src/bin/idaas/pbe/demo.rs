//! `idaas pbe demo`: the paper's Table 1 lifecycle (DESIGN.md §4), run with real keys and
//! printed as a table. Every cell is a real decryption; the last column says whether the
//! outcome is the one the paper describes, and the command fails if any is not.

use pbe_core::disclosure::table1;
use pbe_core::{segtree, Attribute, AuthoritySecretKey, Encryptor, Gid, Suite};
use rand_core::OsRng;

use super::{at, parse_day, parse_suite};
use crate::cli::DemoArgs;
use crate::error::CliError;

const HOME: &str = "telekom";
const VISITOR: &str = "salesforce";

struct Scenario {
    label: &'static str,
    tat_offset_days: u64,
    purposes: &'static [&'static str],
    primary_purposes: &'static [&'static str],
    /// Which of lastname, dob, addresses the paper says open.
    expected: [bool; 3],
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        label: "shopping service",
        tat_offset_days: 0,
        purposes: &["current"],
        primary_purposes: &["purchase"],
        expected: [true, true, false],
    },
    Scenario {
        label: "delivery service",
        tat_offset_days: 0,
        purposes: &["current", "contact"],
        primary_purposes: &["delivery"],
        expected: [true, false, true],
    },
    Scenario {
        label: "shopping, SAML session expired",
        tat_offset_days: 0,
        purposes: &[],
        primary_purposes: &["purchase"],
        expected: [false, false, false],
    },
    Scenario {
        label: "delivery, 15 days later",
        tat_offset_days: 15,
        purposes: &["current", "contact"],
        primary_purposes: &["delivery"],
        expected: [true, false, false],
    },
];

pub fn run(a: &DemoArgs) -> Result<(), CliError> {
    let suite = parse_suite(&a.suite)?;
    let today = parse_day("--today", a.today.as_deref())?;
    pbe_core::with_suite!(suite, S => run_with::<S>(today))
}

fn run_with<S: Suite>(today: u64) -> Result<(), CliError> {
    let rng = &mut OsRng;
    let home = AuthoritySecretKey::<S>::setup(HOME, rng).map_err(at("setup"))?;
    let visitor = AuthoritySecretKey::<S>::setup(VISITOR, rng).map_err(at("setup"))?;
    // Table 1 also lets the domain `amazon` (a second visitor IdP) see lastname and dob.
    let amazon = AuthoritySecretKey::<S>::setup("amazon", rng).map_err(at("setup"))?;
    let encryptor = Encryptor::new([home.public_key(), visitor.public_key(), amazon.public_key()])
        .map_err(at("encryptor"))?;

    println!("The paper's Table 1, encrypted by bob on {} (suite {}):", segtree::format_date(today), S::ID);
    println!();
    let mut ciphertexts = Vec::new();
    for (name, value, disclosure) in table1() {
        let policy =
            disclosure.compile(HOME, today).map_err(|e| CliError::input(format!("table 1 {name}: {e}")))?;
        let ct = encryptor.encrypt(&policy, value.as_bytes(), rng).map_err(at(name))?;
        println!("  {name:<10} {:>3} rows, {:>5} bytes  {}", ct.row_count(), ct.as_bytes().len(), policy);
        ciphertexts.push((name, ct));
    }
    println!();

    // One sign-in session for bob: the linchpin every key below is bound to.
    let gid = Gid::new("bob", "session-demo-1").map_err(at("gid"))?;
    let mut all_as_expected = true;
    println!(
        "  {:<32} {:<10} {:<32} {:<10} {:<12} {:<18} paper",
        "scenario", "TAT date", "PAT purposes", "lastname", "dob", "addresses"
    );
    for s in &SCENARIOS {
        let day = today + s.tat_offset_days;
        let mut tat_attrs = segtree::path_attributes("access_time", HOME, day)
            .map_err(|e| CliError::input(format!("access_time: {e}")))?;
        tat_attrs.push(attr("domain", VISITOR, HOME)?);
        tat_attrs.push(attr("country", "eu", HOME)?);
        let tat = home.keygen(&gid, &tat_attrs, rng).map_err(at("TAT"))?;

        let mut pat_attrs = Vec::new();
        for p in s.purposes {
            pat_attrs.push(attr("purpose", p, VISITOR)?);
        }
        for p in s.primary_purposes {
            pat_attrs.push(attr("ppurpose", p, VISITOR)?);
        }
        let pat = visitor.keygen(&gid, &pat_attrs, rng).map_err(at("PAT"))?;

        let mut cells = Vec::new();
        let mut ok = true;
        for ((name, ct), expected) in ciphertexts.iter().zip(s.expected) {
            let opened = match ct.decrypt(&[&tat, &pat]) {
                Ok(plain) => Some(String::from_utf8_lossy(&plain).into_owned()),
                Err(pbe_core::Error::Scheme(pbe_core::SchemeError::NotSatisfied { .. })) => None,
                Err(e) => return Err(CliError::input(format!("{name}: {e}"))),
            };
            ok &= opened.is_some() == expected;
            cells.push(opened.unwrap_or_else(|| "(closed)".to_owned()));
        }
        all_as_expected &= ok;
        let purposes: Vec<String> = s
            .purposes
            .iter()
            .map(|p| p.to_string())
            .chain(s.primary_purposes.iter().map(|p| format!("{p} (primary)")))
            .collect();
        println!(
            "  {:<32} {:<10} {:<32} {:<10} {:<12} {:<18} {}",
            s.label,
            segtree::format_date(day),
            purposes.join(", "),
            cells.first().map_or("", String::as_str),
            cells.get(1).map_or("", String::as_str),
            cells.get(2).map_or("", String::as_str),
            if ok { "as expected" } else { "MISMATCH" }
        );
    }
    println!();
    if all_as_expected {
        println!("Every service decrypted exactly what bob's disclosure policies allow.");
        Ok(())
    } else {
        Err(CliError::not_satisfied("the lifecycle did not match the paper's Table 1"))
    }
}

fn attr(name: &str, value: &str, authority: &str) -> Result<Attribute, CliError> {
    Attribute::new(name, value, authority).map_err(|e| CliError::input(format!("{name}: {e}")))
}
