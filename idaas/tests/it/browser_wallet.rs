//! bob's wallet in a real browser (issue 19's "done when"): headless Chromium over WebDriver
//! (`browser_kit.rs`), axe-core on every wallet page. Without JSON or the CLI, bob adds a phone
//! number with the form that only delivery may read, for 7 days; the live preview (updated by
//! the wallet's script as he fills the form, no button pressed) names delivery;
//! delivery reads it and shopping does not; he withdraws it. The home IdP never holds the
//! plaintext (its data directory is searched).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use idaas::wallet::{self, WalletOptions};
use service_kit::secret::Secret;

use super::browser_kit::Browser;

const PHONE: &str = "+49 30 5550123";

fn data_holds(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let p = e.unwrap().path();
        if p.is_dir() {
            data_holds(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_gives_delivery_his_phone_for_a_week_with_the_wallet_and_withdraws_it_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (stack, clock) = super::browser_kit::start_stack(dir.path()).await;
    let w = wallet::start(WalletOptions {
        home: stack.home_url.clone(),
        user: "bob".into(),
        password: Secret::new(stack.password.clone()),
        port: 0,
        vault: None,
        extra_ca: None,
        clock,
    })
    .await
    .unwrap();
    let (shop, delivery) = (&stack.agent_urls[0], &stack.agent_urls[1]);
    let mut b = Browser::start().await;

    // The printed link opens the wallet: Table 1 with its rules and readers.
    b.goto(&w.open_url).await;
    b.wait_title("Your wallet").await;
    b.wait_text("Who can open it today").await;
    b.page("w01-wallet").await;

    // The form: a phone number that only delivery may read, for 7 days; preview first.
    b.follow("Add a value").await;
    b.wait_title("Add a value").await;
    b.page("w02-add").await;
    b.fill("#attr", "phone").await;
    b.fill("#value", PHONE).await;
    b.click("input[name=domain][value=salesforce]").await;
    b.click("input[name=purpose][value=contact]").await;
    b.click("input[name=primary][value=delivery]").await;
    b.fill("#days", "7").await;
    // The live preview (the wallet's own script) follows the form: no button pressed, the page
    // not reloaded. The Preview button stays for browsers without script.
    b.wait_text("primary=delivery for=7d").await;
    assert!(b.url().await.ends_with("/edit"), "still the form: {}", b.url().await);
    b.wait_for("button[formaction='/preview']").await;
    let readers = b.wait_for("#preview-readers").await.text().await.unwrap();
    assert_eq!(readers, "Delivery service");
    b.page("w03-preview").await;
    b.click("form[action='/save'] button:not([formaction])").await;
    b.wait_title("Your wallet").await;
    let text = b.wait_text("Done: saved phone").await;
    assert!(text.contains("primarily for delivery"), "{text}");
    b.page("w04-saved").await;
    assert!(
        !data_holds(&stack.data_dir.join("home"), PHONE.as_bytes()),
        "the home IdP holds only ciphertext"
    );

    // Delivery reads it; shopping does not.
    b.goto(&format!("{delivery}/")).await;
    b.wait_for("input[type=password]").await;
    b.fill("#uid", "bob").await;
    b.fill("#password", &stack.password).await;
    b.click("button[type=submit]").await;
    b.wait_for("form[action='/saml/consent']").await;
    b.wait_text("phone").await;
    b.click("button[value=allow]").await;
    b.wait_title("The delivery service").await;
    b.wait_text(PHONE).await;
    b.goto(&format!("{shop}/")).await;
    b.wait_for("form[action='/saml/consent']").await;
    b.click("button[value=allow]").await;
    b.wait_title("The shopping service").await;
    let text = b.wait_text("Signed in as bob").await;
    assert!(!text.contains(PHONE), "{text}");

    // Withdraw it.
    b.goto(&format!("http://127.0.0.1:{}/", w.addr.port())).await;
    b.wait_title("Your wallet").await;
    b.click("button[aria-label='Delete phone']").await;
    b.wait_text("Done: deleted phone").await;
    b.page("w05-withdrawn").await;
    let client = idaas::owner::HomeClient::new(&stack.home_url).unwrap();
    let token = client.token("bob", &stack.password).await.unwrap();
    assert!(!client.list(&token).await.unwrap().iter().any(|p| p.attribute == "phone"));

    b.assert_accessible();
    b.close().await;
    w.stop().await.unwrap();
    stack.stop().await;
}
