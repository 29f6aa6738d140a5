//! A long-running TCP connection for restart tests: an echo server, and a client that sends a
//! sequence number every interval over ONE connection and counts the echoes.
//!
//! `kakinectl probe echo` and `kakinectl probe soak` wrap these; tests run them inside pod
//! network namespaces. A connection that survives an agent restart echoes every number; a reset
//! or a stall longer than the read timeout ends the run with the count so far.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What a soak run saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoakReport {
    /// Numbers sent.
    pub sent: u64,
    /// Numbers echoed back, in order.
    pub echoed: u64,
    /// Longest round trip, milliseconds.
    pub max_rtt_ms: u64,
    /// Whether the run ended early (reset, timeout, wrong echo).
    pub broken: bool,
}

/// Echoes every TCP connection on `port` (all addresses) until killed.
/// Errors: the port cannot be bound.
pub fn echo(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))?;
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut s = stream;
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

/// Connects to `ip:port` and, for `duration`, sends an 8-byte sequence number every `interval`
/// and waits (at most `timeout`) for its echo.
/// Errors: the connection cannot be made.
pub fn soak(
    ip: Ipv4Addr,
    port: u16,
    duration: Duration,
    interval: Duration,
    timeout: Duration,
) -> std::io::Result<SoakReport> {
    let mut s = TcpStream::connect_timeout(&(ip, port).into(), timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_nodelay(true)?;
    let mut r = SoakReport {
        sent: 0,
        echoed: 0,
        max_rtt_ms: 0,
        broken: false,
    };
    let end = Instant::now() + duration;
    while Instant::now() < end {
        let t = Instant::now();
        if s.write_all(&r.sent.to_be_bytes()).is_err() {
            r.broken = true;
            break;
        }
        r.sent += 1;
        let mut buf = [0u8; 8];
        match s.read_exact(&mut buf) {
            Ok(()) if u64::from_be_bytes(buf) == r.sent - 1 => r.echoed += 1,
            _ => {
                r.broken = true;
                break;
            }
        }
        r.max_rtt_ms = r.max_rtt_ms.max(t.elapsed().as_millis() as u64);
        std::thread::sleep(interval);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_comes_back_on_loopback_and_a_dead_server_breaks_the_run() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        std::thread::spawn(move || echo(port));
        std::thread::sleep(Duration::from_millis(100));
        let ms = Duration::from_millis;
        let r = soak(Ipv4Addr::LOCALHOST, port, ms(200), ms(10), ms(500)).unwrap();
        assert!(!r.broken && r.sent > 5 && r.sent == r.echoed, "{r:?}");

        // A server that closes after the first number.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            s.write_all(&b).unwrap();
        });
        let r = soak(Ipv4Addr::LOCALHOST, port, ms(500), ms(10), ms(500)).unwrap();
        assert!(r.broken && r.echoed == 1, "{r:?}");
    }
}
