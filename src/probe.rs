//! Real-traffic probes: a TCP server that accepts on a set of ports, and a TCP client that reports
//! whether a connection was accepted, refused or timed out.
//!
//! `kakinectl probe serve` and `kakinectl probe connect` wrap these; the demo and the tests run
//! them inside pod network namespaces with `ip netns exec`.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// What a client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The three-way handshake completed.
    Connected,
    /// An RST came back (connection refused).
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

/// Connects to `ip:port` over TCP with a timeout.
pub fn connect_tcp(ip: Ipv4Addr, port: u16, timeout: Duration) -> Outcome {
    match TcpStream::connect_timeout(&SocketAddr::from((ip, port)), timeout) {
        Ok(_) => Outcome::Connected,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Outcome::Refused,
        Err(_) => Outcome::TimedOut,
    }
}

/// Listens on every `port` (TCP, all addresses) and accepts forever, writing `name\n` to each
/// client. Returns an error if a port cannot be bound.
pub fn serve_tcp(ports: &[u16], name: &str) -> std::io::Result<()> {
    let mut handles = Vec::new();
    for &port in ports {
        let listener = TcpListener::bind(("0.0.0.0", port))?;
        let greeting = format!("{name}\n");
        handles.push(std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.write_all(greeting.as_bytes());
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}
