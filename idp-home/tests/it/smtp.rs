//! SMTP delivery of the outbox (issue 21, item 2) through a local SMTP sink started by the
//! test: delivered messages move to `sent/`, a server that is down leaves them queued, a
//! permanent refusal moves them to `failed/` without blocking the rest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use idp_home::mail::{Message, Outbox};
use idp_home::smtp;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// One message the sink accepted: the envelope and the data.
#[derive(Debug, Clone)]
struct Received {
    from: String,
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server (RFC 5321 without extensions); refuses recipients containing
/// `reject` with 550.
async fn sink() -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = got.clone();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut current = Received { from: String::new(), to: Vec::new(), data: String::new() };
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        current.from = line[10..].trim().to_owned();
                        b"250 OK\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        if line.contains("reject") {
                            b"550 no such user\r\n"
                        } else {
                            current.to.push(line[8..].trim().to_owned());
                            b"250 OK\r\n"
                        }
                    } else if upper == "DATA" {
                        w.write_all(b"354 go on\r\n").await.unwrap();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            current.data.push_str(&l);
                            current.data.push('\n');
                        }
                        log.lock().unwrap().push(current.clone());
                        current = Received { from: String::new(), to: Vec::new(), data: String::new() };
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    w.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (addr, got)
}

fn message(to: &str) -> Message {
    Message {
        from: "idaas home IdP <no-reply@idp.example>".into(),
        to: to.into(),
        subject: "Confirm your e-mail address".into(),
        body: "Hello,\nplease confirm.\n".into(),
    }
}

fn names(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn the_outbox_is_delivered_in_order_and_moved_to_sent() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::new(dir.path().join("outbox"));
    outbox.send(&message("bob@example.org"), 1_000).unwrap();
    outbox.send(&message("alice@example.org"), 2_000).unwrap();
    let (addr, got) = sink().await;
    let transport = smtp::transport(&format!("smtp://{addr}")).unwrap();
    assert_eq!(smtp::deliver_pending(&transport, outbox.dir()).await.unwrap(), 2);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].to, ["<bob@example.org>"], "oldest first");
    assert_eq!(got[1].to, ["<alice@example.org>"]);
    assert!(got[0].from.contains("no-reply@idp.example"));
    assert!(got[0].data.contains("Subject: Confirm your e-mail address"), "{}", got[0].data);
    assert!(names(outbox.dir()).is_empty());
    assert_eq!(names(&outbox.dir().join("sent")).len(), 2);
    // Nothing left: a second pass delivers nothing.
    assert_eq!(smtp::deliver_pending(&transport, outbox.dir()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_server_that_is_down_leaves_the_message_queued_and_a_refusal_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::new(dir.path().join("outbox"));
    outbox.send(&message("reject@example.org"), 1_000).unwrap();
    outbox.send(&message("bob@example.org"), 2_000).unwrap();
    // A port with no server: a transient failure, nothing moves.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let down = smtp::transport(&format!("smtp://{closed}")).unwrap();
    assert!(smtp::deliver_pending(&down, outbox.dir()).await.is_err());
    assert_eq!(names(outbox.dir()).len(), 2);
    // The server is up: the refused recipient goes to failed/, the next one is delivered.
    let (addr, got) = sink().await;
    let up = smtp::transport(&format!("smtp://{addr}")).unwrap();
    assert_eq!(smtp::deliver_pending(&up, outbox.dir()).await.unwrap(), 1);
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_eq!(names(&outbox.dir().join("failed")).len(), 1);
    assert_eq!(names(&outbox.dir().join("sent")).len(), 1);
    // A file that is not a message of ours is parked in failed/ too, never sent.
    std::fs::write(outbox.dir().join("3000-garbage.eml"), b"\xff\xfe not mail").unwrap();
    assert_eq!(smtp::deliver_pending(&up, outbox.dir()).await.unwrap(), 0);
    assert_eq!(names(&outbox.dir().join("failed")).len(), 2);
}

#[test]
fn smtp_url_is_validated_with_the_configuration() {
    for (toml, ok) in [
        ("smtp_url = \"smtp://127.0.0.1:25\"", true),
        ("smtp_url = \"smtps://mail.example:465\"", true),
        ("smtp_url = \"smtp://user:secret@mail.example\"", false),
        ("smtp_url = \"https://mail.example\"", false),
    ] {
        let result = idp_home::config::Config::from_toml(toml);
        assert_eq!(result.is_ok(), ok, "{toml}: {result:?}");
        if let Err(e) = result {
            let text = e.to_string();
            assert!(text.contains("smtp_url") && !text.contains("secret"), "{text}");
        }
    }
}
