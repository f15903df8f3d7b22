//! Every HTTP route over real HTTP on 127.0.0.1, against a running 4-validator network: the
//! answers for good input, and the error answers for bad input (bad hex, unknown height,
//! oversized body, bad namespace, unknown transaction, refused ciphertext).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::Cluster;
use serde_json::Value;
use shroud_node::runtime::http::{BODY_BYTES_MAX, ROUTES};
use shroud_sdk::{Bundle, Item, NamespaceId};

/// One HTTP/1.1 request; returns the status code and the body.
fn request(address: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    if let Some(body) = body {
        // The server may answer (413) and close before reading all of a large body.
        let _ = stream.write_all(body);
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

fn json(address: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> (u16, Value) {
    let (status, body) = request(address, method, path, body);
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: not JSON: {body:?}")),
    )
}

fn error_code(address: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
    let (status, value) = json(address, method, path, body);
    let code = value["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no error code in {value}"));
    (status, code.to_string())
}

/// A bad request: method, path, body, and the status and error code expected.
type BadInput = (&'static str, String, Option<Vec<u8>>, u16, &'static str);

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", ::hex::encode(bytes))
}

#[test]
fn every_route_answers_over_http_and_bad_input_gets_a_typed_error() {
    let cluster = Cluster::start(4);
    let address = cluster.committee.file.validators[0].http_address;
    let committee = common::sdk_committee(&cluster);
    let runtime = common::runtime();

    // A cross-rollup bundle through the SDK, and a single one through POST /v1/tx.
    let (client, bundle_id) = runtime.block_on(async {
        let client = common::connect_sdk(&committee, &[0]).await;
        let bundle = Bundle {
            items: vec![
                Item {
                    namespace: NamespaceId(1),
                    data: b"leg a".to_vec(),
                },
                Item {
                    namespace: NamespaceId(2),
                    data: b"leg b".to_vec(),
                },
            ],
        };
        let submitted = client.submit_bundle(&bundle).await.expect("accepted");
        (client, submitted.tx_id)
    });
    let single = client
        .encrypt(&Bundle::single(NamespaceId(1), b"over http".to_vec()))
        .expect("a dealt key");
    let body = format!("{{\"ciphertext\": \"{}\"}}", hex(&single));
    let (status, posted) = json(address, "POST", "/v1/tx", Some(body.as_bytes()));
    assert_eq!(status, 200, "{posted}");
    let posted_id = posted["tx_id"].as_str().expect("tx id").to_string();
    assert_eq!(posted_id, hex(&shroud_proofs::TxId::of(&single).0));
    // The same again: refused as a duplicate, with its code.
    assert_eq!(
        error_code(address, "POST", "/v1/tx", Some(body.as_bytes())),
        (422, "duplicate".into())
    );
    // A committing validator with its key is ready.
    let (status, ready) = json(address, "GET", "/readyz", None);
    assert_eq!(
        (status, ready["ready"].as_bool()),
        (200, Some(true)),
        "{ready}"
    );

    // Both certified, as the receipts say.
    let deadline = Instant::now() + Duration::from_secs(60);
    let receipt = loop {
        let (status, receipt) = json(
            address,
            "GET",
            &format!("/v1/tx/{}", hex(&bundle_id.0)),
            None,
        );
        let (_, other) = json(address, "GET", &format!("/v1/tx/{posted_id}"), None);
        if status == 200 && receipt["status"] == "certified" && other["status"] == "certified" {
            break receipt;
        }
        assert!(Instant::now() < deadline, "not certified: {receipt}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let height = common::u64_of(&receipt["ordered"]["height"]).expect("height");
    assert_eq!(receipt["outcome"]["decrypted"], true);
    assert!(receipt["batched"]["digest"]
        .as_str()
        .expect("digest")
        .starts_with("0x"));
    assert_eq!(
        receipt["certified"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .len(),
        2
    );
    assert_eq!(receipt["certified"]["header"]["height"], height.to_string());

    // Every route is served (none falls through to the not-found answer).
    let tx_path = format!("/v1/tx/{posted_id}");
    let output_path = format!("/v1/outputs/{height}");
    let decryption_path = format!("/v1/outputs/{height}/decryption");
    let namespace_path = format!("/v1/namespaces/2/outputs/{height}");
    for (method, route) in ROUTES {
        let path = match *route {
            "/v1/outputs/{height}" => output_path.as_str(),
            "/v1/outputs/{height}/decryption" => decryption_path.as_str(),
            "/v1/namespaces/{namespace}/outputs/{height}" => namespace_path.as_str(),
            "/v1/tx/{id}" => tx_path.as_str(),
            "/v1/tx" => continue,
            other => other,
        };
        let (status, body) = request(address, &method.to_uppercase(), path, None);
        assert_eq!(status, 200, "{method} {path}: {body}");
    }

    // The good answers carry what they promise.
    let (_, status) = json(address, "GET", "/v1/status", None);
    assert!(common::u64_of(&status["certified_height"]).expect("height") >= height);
    let (_, committee_json) = json(address, "GET", "/v1/committee", None);
    assert_eq!(
        committee_json["validators"]
            .as_array()
            .expect("validators")
            .len(),
        4
    );
    let (_, key) = json(address, "GET", "/v1/encryption-key", None);
    assert_eq!(
        key["encryption_key"].as_str().expect("key"),
        hex(&committee.encryption_key().expect("dealt").to_bytes())
    );
    assert!(
        key["certificate"]["signature"]
            .as_str()
            .expect("signature")
            .len()
            == 2 + 192
    );
    let (_, output) = json(address, "GET", &output_path, None);
    assert_eq!(output["header"]["height"], height.to_string());
    assert!(output["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .any(|p| p["tx_id"] == hex(&bundle_id.0)));
    let (_, decryption) = json(address, "GET", &decryption_path, None);
    assert_eq!(decryption["height"], height.to_string());
    let shared = decryption["positions"].as_array().expect("positions");
    let ours = shared
        .iter()
        .find(|p| p["tx_id"] == hex(&bundle_id.0))
        .expect("the decrypted bundle got shares");
    // The served point is the ciphertext's true x·u: it passes the pairing check against the
    // committee's key and opens the bundle (anyone can do this with the JSON alone).
    let unhex = |field: &str| {
        let text = ours[field].as_str().expect("hex");
        ::hex::decode(text.trim_start_matches("0x")).expect("hex decodes")
    };
    let (ciphertext, point) = (unhex("ciphertext"), unhex("point"));
    let opened = shroud_crypto::tdh2::check_decryptions(
        committee.public_key_set().expect("dealt"),
        &shroud_crypto::tdh2::Context {
            chain_id: committee.chain_id(),
            epoch: committee.epoch(),
        },
        &[(ciphertext.as_slice(), point.as_slice())],
        64 * 1024,
        &mut rand_core::OsRng,
    )
    .expect("the served point is the true one");
    let plaintext = opened[0].clone().expect("it opens");
    let bundle =
        Bundle::decode(&plaintext, &shroud_proofs::BundleLimits::default()).expect("a bundle");
    assert_eq!(bundle.items[1].data, b"leg b".to_vec());
    let (_, namespace) = json(address, "GET", &namespace_path, None);
    assert_eq!(namespace["proof"]["kind"], "inclusion");
    assert_eq!(namespace["bundles"].as_array().expect("bundles").len(), 1);
    let (status, empty) = json(
        address,
        "GET",
        &format!("/v1/namespaces/119/outputs/{height}"),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(empty["proof"]["kind"], "absence");
    assert!(empty["items"].as_array().expect("items").is_empty());
    let (_, metrics) = request(address, "GET", "/metrics", None);
    assert!(metrics.contains("shroud_outputs_certified_total"));
    // Every series exported has its `# HELP` line; the build and the process are there.
    for line in metrics
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
    {
        let name = line.split(['{', ' ']).next().expect("a name");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|family| metrics.contains(&format!("# HELP {family} ")))
            .unwrap_or(name);
        assert!(
            metrics.contains(&format!("# HELP {family} ")),
            "no # HELP for {name}"
        );
    }
    for name in [
        "shroud_build_info{",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }

    // Bad input: each with its code.
    let cases: Vec<BadInput> = vec![
        ("GET", "/v1/tx/0xzz".into(), None, 400, "bad_hex"),
        ("GET", "/v1/tx/0x1234".into(), None, 400, "bad_tx_id"),
        (
            "GET",
            format!("/v1/tx/{}", hex(&[7; 32])),
            None,
            404,
            "unknown_tx",
        ),
        (
            "GET",
            "/v1/outputs/99999999".into(),
            None,
            404,
            "unknown_height",
        ),
        ("GET", "/v1/outputs/zero".into(), None, 400, "bad_height"),
        (
            "GET",
            "/v1/outputs/99999999/decryption".into(),
            None,
            404,
            "unknown_height",
        ),
        ("GET", "/v1/outputs/0".into(), None, 400, "bad_height"),
        (
            "GET",
            "/v1/namespaces/rollup/outputs/1".into(),
            None,
            400,
            "bad_namespace",
        ),
        (
            "GET",
            "/v1/namespaces/1/outputs/99999999".into(),
            None,
            404,
            "unknown_height",
        ),
        ("GET", "/v1/no-such-route".into(), None, 404, "not_found"),
        (
            "DELETE",
            "/v1/status".into(),
            None,
            405,
            "method_not_allowed",
        ),
        ("GET", "/order?from=-1".into(), None, 400, "bad_query"),
        // One spelling each: decimal integers without sign or leading zero, 0x lowercase hex.
        ("GET", "/order?from=+5".into(), None, 400, "bad_query"),
        ("GET", "/order?from=0005".into(), None, 400, "bad_query"),
        ("GET", "/order?form=5".into(), None, 400, "bad_query"),
        ("GET", "/v1/outputs/+1".into(), None, 400, "bad_height"),
        ("GET", "/v1/outputs/01".into(), None, 400, "bad_height"),
        (
            "GET",
            "/v1/namespaces/0x2a/outputs/1".into(),
            None,
            400,
            "bad_namespace",
        ),
        (
            "GET",
            "/v1/namespaces/18446744073709551616/outputs/1".into(),
            None,
            400,
            "bad_namespace",
        ),
        (
            "GET",
            format!("/v1/tx/{}", ::hex::encode([7; 32])),
            None,
            400,
            "bad_hex",
        ),
        (
            "GET",
            format!("/v1/tx/0x{}", ::hex::encode_upper([0xab; 32])),
            None,
            400,
            "bad_hex",
        ),
        (
            "POST",
            "/v1/tx".into(),
            Some(b"{\"ciphertext\": \"0xqq\"}".to_vec()),
            400,
            "bad_hex",
        ),
        (
            "POST",
            "/v1/tx".into(),
            Some(b"not json".to_vec()),
            400,
            "bad_json",
        ),
        (
            "POST",
            "/v1/tx".into(),
            Some(b"{\"ciphertext\": \"0x00112233\"}".to_vec()),
            422,
            "malformed",
        ),
        (
            "POST",
            "/v1/tx".into(),
            Some(vec![b'7'; BODY_BYTES_MAX + 1]),
            413,
            "too_large",
        ),
    ];
    for (method, path, body, status, code) in cases {
        assert_eq!(
            error_code(address, method, &path, body.as_deref()),
            (status, code.to_string()),
            "{method} {path}"
        );
    }
    client.close();
}

/// Idle and half-sent connections cannot hold the API: past the per-address cap a new
/// connection is closed at once, a request whose headers do not arrive is closed after the
/// header timeout, and the API answers again once they are gone.
#[test]
fn idle_and_half_sent_http_connections_are_capped_and_closed() {
    use shroud_node::runtime::http::CONNECTIONS_PER_ADDRESS_MAX;
    let cluster = Cluster::start(4);
    let address = cluster.http(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.get(0, "/healthz").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let half_sent: Vec<TcpStream> = (0..CONNECTIONS_PER_ADDRESS_MAX + 8)
        .map(|_| {
            let mut stream = TcpStream::connect(address).expect("connect");
            stream
                .write_all(b"GET /v1/status HTTP/1.1\r\nHost: loc")
                .expect("half a request");
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            stream
        })
        .collect();
    let started = Instant::now();
    // Every one of them is closed by the server: the ones past the cap at once, the others
    // when their headers have not arrived in time. None is answered.
    for mut stream in half_sent {
        let mut buffer = [0u8; 256];
        match stream.read(&mut buffer) {
            Ok(0) => {}
            Ok(count) => assert!(
                String::from_utf8_lossy(&buffer[..count]).starts_with("HTTP/1.1 408"),
                "an incomplete request is not served: {}",
                String::from_utf8_lossy(&buffer[..count])
            ),
            Err(error) => assert_ne!(
                error.kind(),
                std::io::ErrorKind::WouldBlock,
                "a half-sent connection stayed open for 20 s"
            ),
        }
    }
    eprintln!(
        "half-sent connections closed within {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let status = cluster.get(0, "/v1/status").expect("the API answers again");
    assert!(status.get("committed_height").is_some());
}
