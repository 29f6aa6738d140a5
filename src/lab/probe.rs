//! Real-traffic probes: servers that accept TCP and SCTP connections and echo UDP datagrams on a
//! set of ports, and a client that reports whether its attempt was answered, refused or timed out.
//!
//! `kakinectl probe serve` and `kakinectl probe connect` wrap these; the demo, the `ovs` scenario
//! engine with `--traffic` and the tests run them inside pod network namespaces with
//! `ip netns exec`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// IANA protocol number of SCTP (`IPPROTO_SCTP`).
const IPPROTO_SCTP: i32 = 132;

/// What a client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// TCP/SCTP: the handshake completed; UDP: the datagram came back.
    Connected,
    /// TCP: an RST came back; UDP: an ICMP port unreachable or administratively prohibited
    /// (a Reject rule's answer); SCTP: an ABORT.
    Refused,
    /// Nothing came back before the timeout (packets dropped).
    TimedOut,
}

impl Outcome {
    /// Process exit code of `kakinectl probe connect` for this outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Connected => 0,
            Outcome::TimedOut => 1,
            Outcome::Refused => 2,
        }
    }

    /// The outcome for an exit code of `kakinectl probe connect`.
    pub fn from_exit_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(Outcome::Connected),
            1 => Some(Outcome::TimedOut),
            2 => Some(Outcome::Refused),
            _ => None,
        }
    }
}

/// A transport a probe runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// A TCP connection.
    Tcp,
    /// A UDP datagram and its echo.
    Udp,
    /// An SCTP association (one-to-one style socket).
    Sctp,
}

fn outcome_of(e: &std::io::Error) -> Outcome {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset => {
            Outcome::Refused
        }
        _ => Outcome::TimedOut,
    }
}

/// One attempt to `ip:port` (IPv4 or IPv6) over `transport` from `source_port` (0 = any), with
/// a timeout. Errors: the local socket could not be made (e.g. no SCTP in this kernel).
pub fn connect(
    transport: Transport,
    ip: impl Into<IpAddr>,
    port: u16,
    source_port: u16,
    timeout: Duration,
) -> std::io::Result<Outcome> {
    let ip = ip.into();
    let dst = SocketAddr::from((ip, port));
    let any = match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let src = SocketAddr::from((any, source_port));
    match transport {
        Transport::Udp => {
            let sock = UdpSocket::bind(src)?;
            sock.connect(dst)?;
            sock.set_read_timeout(Some(timeout))?;
            sock.send(b"kakine probe\n")?;
            let mut buf = [0u8; 64];
            Ok(match sock.recv(&mut buf) {
                Ok(_) => Outcome::Connected,
                // Linux reports ICMP type 3 code 13 (administratively prohibited) on a
                // connected UDP socket as EHOSTUNREACH.
                Err(e) if e.kind() == std::io::ErrorKind::HostUnreachable => Outcome::Refused,
                Err(e) => outcome_of(&e),
            })
        }
        Transport::Tcp | Transport::Sctp => {
            let sock = stream_socket(transport, Domain::for_address(dst))?;
            if source_port != 0 {
                sock.set_reuse_address(true)?;
                sock.bind(&src.into())?;
            }
            Ok(match sock.connect_timeout(&dst.into(), timeout) {
                Ok(()) => Outcome::Connected,
                Err(e) => outcome_of(&e),
            })
        }
    }
}

fn stream_socket(transport: Transport, domain: Domain) -> std::io::Result<Socket> {
    let protocol = match transport {
        Transport::Sctp => Some(socket2::Protocol::from(IPPROTO_SCTP)),
        _ => Some(socket2::Protocol::TCP),
    };
    Socket::new(domain, Type::STREAM, protocol)
}

/// A listening socket on `port` of every address: dual stack (`[::]` without `IPV6_V6ONLY`,
/// so IPv4 clients arrive as IPv4-mapped addresses) where the namespace has IPv6, else IPv4.
fn listener(transport: Transport, port: u16) -> std::io::Result<TcpListener> {
    let bind = |domain: Domain, addr: SocketAddr| -> std::io::Result<Socket> {
        let sock = stream_socket(transport, domain)?;
        if domain == Domain::IPV6 {
            sock.set_only_v6(false)?;
        }
        sock.set_reuse_address(true)?;
        sock.bind(&addr.into())?;
        sock.listen(128)?;
        Ok(sock)
    };
    let sock = bind(
        Domain::IPV6,
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
    )
    .or_else(|_| {
        bind(
            Domain::IPV4,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        )
    })?;
    Ok(sock.into())
}

/// A UDP socket on `port` of every address, dual stack where the namespace has IPv6.
fn udp_socket(port: u16) -> std::io::Result<UdpSocket> {
    let v6 = Socket::new(Domain::IPV6, Type::DGRAM, Some(socket2::Protocol::UDP)).and_then(|s| {
        s.set_only_v6(false)?;
        s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
        Ok(s)
    });
    match v6 {
        Ok(s) => Ok(s.into()),
        Err(_) => UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)),
    }
}

/// Whether this kernel opens SCTP sockets (the `sctp` module is loaded or loadable); checked in
/// the caller's network namespace.
pub fn sctp_supported() -> bool {
    stream_socket(Transport::Sctp, Domain::IPV4).is_ok()
}

/// Connects to `ip:port` over TCP with a timeout.
pub fn connect_tcp(ip: impl Into<IpAddr>, port: u16, timeout: Duration) -> Outcome {
    connect(Transport::Tcp, ip, port, 0, timeout).unwrap_or(Outcome::TimedOut)
}

/// Serves forever: accepts TCP connections on `tcp` and SCTP associations on `sctp`, writing
/// `name\n` to each client, and echoes every datagram received on `udp`, on IPv4 and (where
/// the namespace has it) IPv6. Returns an error if a port cannot be bound.
pub fn serve(tcp: &[u16], udp: &[u16], sctp: &[u16], name: &str) -> std::io::Result<()> {
    let mut handles = Vec::new();
    let greeting = format!("{name}\n");
    for &port in tcp {
        let listener = listener(Transport::Tcp, port)?;
        let greeting = greeting.clone();
        handles.push(std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.write_all(greeting.as_bytes());
            }
        }));
    }
    for &port in sctp {
        let listener = listener(Transport::Sctp, port)?;
        let greeting = greeting.clone();
        handles.push(std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.write_all(greeting.as_bytes());
            }
        }));
    }
    for &port in udp {
        let sock = udp_socket(port)?;
        handles.push(std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], from);
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// Listens on every `port` (TCP, all addresses) and accepts forever, writing `name\n` to each
/// client. Returns an error if a port cannot be bound.
pub fn serve_tcp(ports: &[u16], name: &str) -> std::io::Result<()> {
    serve(ports, &[], &[], name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_udp_datagram_is_echoed_and_a_closed_port_is_refused() {
        // Loopback of whatever namespace the test runs in; no address is added anywhere.
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        });
        let lo = Ipv4Addr::LOCALHOST;
        let t = Duration::from_millis(500);
        assert_eq!(
            connect(Transport::Udp, lo, port, 0, t).unwrap(),
            Outcome::Connected
        );
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        assert_eq!(
            connect(Transport::Udp, lo, closed_port, 0, t).unwrap(),
            Outcome::Refused
        );
    }
}
