//! The SDK's examples against a local 4-validator network: the wallet submits a cross-rollup
//! bundle and follows its receipt to `certified`; two rollup followers (one per namespace)
//! find its items at the same height, every output verified on the way.
//!
//! The example binaries come from `cargo test --workspace` (which builds every package's
//! examples); run `cargo build -p shroud-sdk --examples` first when testing this package alone.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Cluster;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p shroud-sdk --examples` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

fn run(name: &str, args: &[&str]) -> String {
    let started = std::time::Instant::now();
    let output = Command::new(example(name))
        .args(args)
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    eprintln!("{name} ran {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        output.status.success(),
        "{name} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn field<'a>(text: &'a str, prefix: &str, key: &str) -> &'a str {
    let line = text
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} line in:\n{text}"));
    line.split_whitespace()
        .find_map(|part| part.strip_prefix(&format!("{key}=")))
        .expect("field")
}

#[test]
fn the_wallet_and_two_rollup_followers_see_one_bundle_at_one_height() {
    let cluster = Cluster::start(4);
    let committee = cluster.dir.path().join("committee.toml");
    let committee = committee.to_str().expect("utf-8 path");

    let wallet = run("wallet", &[committee, "1", "2"]);
    for step in [
        "accepted",
        "batched",
        "ordered at height",
        "decrypted",
        "certified at height",
    ] {
        assert!(wallet.contains(step), "the receipt lacks {step}:\n{wallet}");
    }
    assert!(wallet.contains("epoch key for chain"), "{wallet}");
    let tx = field(&wallet, "CERTIFIED", "tx");
    let height = field(&wallet, "CERTIFIED", "height");

    for namespace in ["1", "2"] {
        let follower = run(
            "rollup_follower",
            &[committee, namespace, "1", "--until-tx", tx],
        );
        assert_eq!(field(&follower, "FOUND", "height"), height, "{follower}");
        assert_eq!(field(&follower, "FOUND", "tx"), tx);
        assert!(follower.contains("siblings proved"), "{follower}");
    }
}

fn shroud(args: &[&str], stdin: Option<&[u8]>) -> String {
    let (success, stdout, stderr) = shroud_status(args, stdin);
    assert!(success, "shroud {args:?} failed: {stderr}\n{stdout}");
    stdout
}

/// Runs `shroud` with `args`: whether it succeeded, its stdout and its stderr.
fn shroud_status(args: &[&str], stdin: Option<&[u8]>) -> (bool, String, String) {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_shroud"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run shroud");
    if let Some(bytes) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(bytes)
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().expect("wait");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn the_cli_submits_watches_and_tails() {
    let cluster = Cluster::start(4);
    let committee = cluster.dir.path().join("committee.toml");
    let committee = committee.to_str().expect("utf-8 path");
    // The committee needs a moment to certify its key; `tx submit` refuses until it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while cluster
        .get(0, "/v1/encryption-key")
        .is_none_or(|v| v.get("certificate").is_none())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the epoch key was never certified"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let submitted = shroud(
        &[
            "tx",
            "submit",
            "--committee",
            committee,
            "--namespace",
            "0x2a",
        ],
        Some(b"mint 1 to carol"),
    );
    let mut lines = submitted.lines();
    let id = lines.next().expect("the id line").to_string();
    assert!(id.len() == 66 && id.starts_with("0x"), "{submitted}");
    assert!(submitted.contains("ordered at height"), "{submitted}");
    let certified = submitted
        .lines()
        .find(|line| line.starts_with("certified at height"))
        .unwrap_or_else(|| panic!("not certified:\n{submitted}"));
    let height: u64 = certified
        .split_whitespace()
        .nth(3)
        .expect("height")
        .parse()
        .expect("number");

    let watched = shroud(
        &[
            "tx",
            "watch",
            &id,
            "--committee",
            committee,
            "--validators",
            "2,3",
        ],
        None,
    );
    assert!(
        watched
            .lines()
            .last()
            .expect("a line")
            .starts_with(&format!("certified at height {height}")),
        "{watched}"
    );

    // `tx encrypt --hex` makes the body of `POST /v1/tx`: any HTTP client can submit it.
    let (success, encrypted, stderr) = shroud_status(
        &[
            "tx",
            "encrypt",
            "--hex",
            "--committee",
            committee,
            "--namespace",
            "42",
        ],
        Some(b"mint 2 to dave"),
    );
    assert!(success, "{stderr}");
    let ciphertext = encrypted.trim();
    assert!(ciphertext.starts_with("0x"), "{encrypted}");
    let body = format!("{{\"ciphertext\": \"{ciphertext}\"}}");
    let mut stream = std::net::TcpStream::connect(cluster.http(1)).expect("http");
    use std::io::{Read as _, Write as _};
    write!(
        stream,
        "POST /v1/tx HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let posted: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).expect("a body")).expect("json");
    let posted_id = posted["tx_id"].as_str().expect("an id");
    assert!(
        stderr.contains(&format!("transaction {posted_id}")),
        "{stderr} / {posted}"
    );

    // An id no validator knows is said to be unknown at once, not waited for.
    let started = std::time::Instant::now();
    let unknown = format!("0x{}", "ab".repeat(32));
    let (success, stdout, stderr) =
        shroud_status(&["tx", "watch", &unknown, "--committee", committee], None);
    assert!(!success, "{stdout}");
    assert!(
        stderr.contains(&format!("unknown transaction {unknown}")),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "an unknown id was waited for"
    );

    let tailed = shroud(
        &[
            "tail",
            "--committee",
            committee,
            "--namespace",
            "42",
            "--from",
            &height.to_string(),
            "--heights",
            "1",
        ],
        None,
    );
    assert!(
        tailed.contains(&id) && tailed.contains("mint 1 to carol"),
        "{tailed}"
    );

    // Tailing from a height far ahead says what it waits for.
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_shroud"))
        .args([
            "tail",
            "--committee",
            committee,
            "--namespace",
            "42",
            "--from",
            "99999999",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run shroud tail");
    let stderr = child.stderr.take().expect("stderr");
    let said: Vec<String> = std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.starts_with("waiting for height"))
        .take(10)
        .collect();
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reap");
    assert!(!status.success(), "tail ended by itself: {said:?}");
    assert!(
        said.len() < 10 && said.iter().all(|line| !line.contains("error")),
        "no progress line: {said:?}"
    );
}
