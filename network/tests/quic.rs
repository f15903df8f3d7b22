//! Real QUIC on 127.0.0.1: pinned peers connect and exchange frames; unpinned or mismatched
//! certificates are refused; frames over the limit, with an unknown version or kind, or with a
//! garbage body are typed errors.

use std::net::SocketAddr;

use rkyv::{Archive, Deserialize, Serialize};
use shroud_network::frame::{self, parse};
use shroud_network::{
    ClientFacingEndpoint, ClientSession, FrameError, FrameKind, Identity, Limits, NetworkError,
    PeerEndpoint, Pin,
};

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(derive(Debug))]
struct Ping {
    sequence: u64,
    note: Vec<u8>,
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

fn committee(size: usize) -> (Vec<Identity>, Vec<Pin>) {
    let identities: Vec<Identity> = (0..size)
        .map(|_| Identity::generate().expect("identity"))
        .collect();
    let pins = identities.iter().map(Identity::pin).collect();
    (identities, pins)
}

fn bind(identity: &Identity, pins: &[Pin], limits: &Limits) -> PeerEndpoint {
    PeerEndpoint::bind(localhost(), identity.clone(), pins.to_vec(), limits.clone())
        .expect("bind 127.0.0.1")
}

#[tokio::test]
async fn pinned_validators_connect_and_exchange_frames() {
    let (identities, pins) = committee(3);
    let limits = Limits::default();
    let server = bind(&identities[0], &pins, &limits);
    let client = bind(&identities[2], &pins, &limits);
    let address = server.local_addr().expect("address");

    let accept = tokio::spawn(async move {
        let connection = server.accept().await.expect("open").expect("handshake");
        let bytes = connection.receive().await.expect("frame");
        (connection.peer(), bytes, server)
    });
    let connection = client.connect(address, 0).await.expect("connect");
    assert_eq!(connection.peer(), 0);
    let ping = Ping {
        sequence: 7,
        note: b"hello".to_vec(),
    };
    let bytes = frame::encode(FrameKind::Consensus, &ping, &limits).expect("encode");
    connection.send(&bytes).await.expect("send");
    let (peer, received, server) = accept.await.expect("task");
    // The accepting side identified the dialer by its pinned certificate.
    assert_eq!(peer, 2);
    let parsed = parse(&received, &limits).expect("frame");
    assert_eq!(parsed.decode::<Ping>(FrameKind::Consensus), Ok(ping));
    assert!(matches!(
        parsed.decode::<Ping>(FrameKind::Batch),
        Err(FrameError::UnexpectedKind { .. })
    ));
    client.close();
    server.close();
}

#[tokio::test]
async fn an_unpinned_validator_is_refused() {
    let (identities, pins) = committee(2);
    let limits = Limits::default();
    let server = bind(&identities[0], &pins, &limits);
    let address = server.local_addr().expect("address");
    // An outsider knows the committee's pins but its own certificate is not among them.
    let outsider = Identity::generate().expect("identity");
    let intruder = bind(&outsider, &pins, &limits);
    let accept = tokio::spawn(async move {
        let result = server.accept().await.expect("an attempt arrives");
        (result.is_err(), server)
    });
    let outcome = intruder.connect(address, 0).await;
    // Whichever side notices first, no usable connection exists.
    if let Ok(connection) = outcome {
        let unusable = connection.send(b"x").await.is_err() || connection.receive().await.is_err();
        assert!(unusable);
    }
    let (refused, server) = accept.await.expect("task");
    assert!(refused, "the server accepted an unpinned certificate");
    intruder.close();
    server.close();
}

#[tokio::test]
async fn dialing_the_wrong_pin_is_refused() {
    let (identities, pins) = committee(3);
    let limits = Limits::default();
    let server = bind(&identities[0], &pins, &limits);
    let client = bind(&identities[1], &pins, &limits);
    let address = server.local_addr().expect("address");
    let serve = tokio::spawn(async move {
        let _ = server.accept().await;
        server
    });
    // Validator 0 listens at `address`, but we dial it as validator 2: its certificate is not
    // validator 2's pin, so the handshake fails on our side.
    let outcome = client.connect(address, 2).await;
    assert!(
        matches!(outcome, Err(NetworkError::Connection(_))),
        "{outcome:?}"
    );
    client.close();
    let server = serve.await.expect("task");
    server.close();
}

#[tokio::test]
async fn oversized_frames_are_refused_by_the_reader() {
    let (identities, pins) = committee(2);
    let small = Limits {
        frame_bytes_max: 1024,
        ..Limits::default()
    };
    let server = bind(&identities[0], &pins, &small);
    // The sender's own limit is larger, so it sends what the receiver must refuse.
    let client = bind(&identities[1], &pins, &Limits::default());
    let address = server.local_addr().expect("address");
    let accept = tokio::spawn(async move {
        let connection = server.accept().await.expect("open").expect("handshake");
        let result = connection.receive().await;
        (result, server)
    });
    let connection = client.connect(address, 0).await.expect("connect");
    let _ = connection.send(&vec![1u8; 4096]).await;
    let (result, server) = accept.await.expect("task");
    assert!(
        matches!(
            result,
            Err(NetworkError::Frame(FrameError::TooLarge { max: 1024, .. }))
        ),
        "{result:?}"
    );
    client.close();
    server.close();
}

#[test]
fn malformed_frames_are_typed_errors() {
    let limits = Limits::default();
    let ping = Ping {
        sequence: 1,
        note: vec![9; 10],
    };
    let good = frame::encode(FrameKind::Submit, &ping, &limits).expect("encode");
    assert!(parse(&good, &limits).is_ok());

    let mut version = good.clone();
    version[0] = 9;
    assert_eq!(parse(&version, &limits), Err(FrameError::UnknownVersion(9)));
    let mut kind = good.clone();
    kind[1] = 200;
    assert_eq!(parse(&kind, &limits), Err(FrameError::UnknownKind(200)));
    assert_eq!(parse(&good[..3], &limits), Err(FrameError::TooShort(3)));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        parse(&trailing, &limits),
        Err(FrameError::LengthMismatch { .. })
    ));
    let tiny = Limits {
        frame_bytes_max: 8,
        ..Limits::default()
    };
    assert!(matches!(
        parse(&good, &tiny),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(matches!(
        frame::encode(FrameKind::Submit, &ping, &tiny),
        Err(FrameError::TooLarge { .. })
    ));

    // Garbage bodies of every length up to the real one never decode, and never panic.
    for length in 0..good.len() - frame::HEADER_BYTES {
        let mut garbage = vec![0xffu8; frame::HEADER_BYTES + length];
        garbage[0] = shroud_network::PROTOCOL_VERSION;
        garbage[1] = FrameKind::Submit as u8;
        garbage[2..6].copy_from_slice(&(length as u32).to_be_bytes());
        let parsed = parse(&garbage, &limits).expect("header is fine");
        assert!(
            parsed.decode::<Ping>(FrameKind::Submit).is_err(),
            "length {length}"
        );
    }
}

#[tokio::test]
async fn clients_request_and_get_answers_over_the_client_endpoint() {
    let identity = Identity::generate().expect("identity");
    let limits = Limits::default();
    let endpoint =
        ClientFacingEndpoint::bind(localhost(), &identity, limits.clone()).expect("bind");
    let address = endpoint.local_addr().expect("address");
    let serve = tokio::spawn(async move {
        let connection = endpoint.accept().await.expect("open").expect("handshake");
        let request = connection.next_request().await.expect("request");
        let mut answer = request.frame.clone();
        answer.reverse();
        request.answer(&answer).await.expect("answer");
        connection.closed().await;
        endpoint
    });
    let session = ClientSession::connect(localhost(), address, identity.pin(), limits)
        .await
        .expect("connect");
    let answer = session.request(b"abc").await.expect("answer");
    assert_eq!(answer, b"cba");
    session.close();
    let endpoint = serve.await.expect("task");
    endpoint.close();

    // A client that pins another certificate refuses the validator.
    let other = Identity::generate().expect("identity");
    let endpoint =
        ClientFacingEndpoint::bind(localhost(), &identity, Limits::default()).expect("bind");
    let address = endpoint.local_addr().expect("address");
    let serve = tokio::spawn(async move {
        let _ = endpoint.accept().await;
        endpoint
    });
    let outcome =
        ClientSession::connect(localhost(), address, other.pin(), Limits::default()).await;
    assert!(outcome.is_err());
    serve.await.expect("task").close();
}
