//! [`Config`]: the session's timers, deadlines, caps and versions.

use super::*;

/// Timers and versions; [`Config::default`] follows OVS's defaults for a controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Wire versions we speak, as a HELLO bitmap (bit n = version n). Only 1.3 is decoded.
    pub versions: u32,
    /// Send an ECHO_REQUEST after this long without receiving anything (OVS:
    /// `inactivity_probe`, 5 s).
    pub probe_interval: Duration,
    /// Declare the peer dead this long after the probe if still nothing arrived.
    pub probe_timeout: Duration,
    /// The whole handshake (HELLO to the BARRIER_REPLY) must finish within this.
    pub handshake_timeout: Duration,
    /// First reconnect delay; doubled per failed attempt, reset once connected.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// How long a request (a dump, a barrier, a flow_mod's confirming barrier, an echo ...)
    /// may wait for its whole answer (30 s). When it passes the request fails with
    /// [`Error::Timeout`] and the connection is dropped (a switch that lost or ignores a
    /// request is not trusted with the next), then re-established after the backoff.
    pub request_timeout: Duration,
    /// How long each phase of a bundle (OPEN and ADDs to their barrier's reply, COMMIT to its
    /// barrier's reply) may take (120 s: 100k flows take OVS a few seconds); as for
    /// `request_timeout`, expiry fails the bundle with [`Error::Timeout`] and drops the
    /// connection.
    pub bundle_timeout: Duration,
    /// Most MULTIPART_REPLY parts one request may gather (1 Mi). One more fails the request
    /// with [`Error::MultipartTooLarge`] and drops the connection.
    pub max_multipart_parts: usize,
    /// Most bytes (whole messages, headers included) one request's MULTIPART_REPLY parts may
    /// total (256 MiB); past it, as for `max_multipart_parts`.
    pub max_multipart_bytes: usize,
    /// The `miss_send_len` of the SET_CONFIG sent in every handshake (OF1.3 §7.3.2): how many
    /// bytes of a packet a table-miss or `controller` PACKET_IN carries when the action does
    /// not say (0xffff, OFPCML_NO_BUFFER: the whole packet). 0 keeps the packet-ins of a
    /// connection that wants none of their bytes (an agent that only counts them) empty; an
    /// explicit `controller(max_len=...)` still sets its own length.
    pub miss_send_len: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            versions: 1 << OFP13_VERSION,
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(8),
            request_timeout: Duration::from_secs(30),
            bundle_timeout: Duration::from_secs(120),
            max_multipart_parts: 1 << 20,
            max_multipart_bytes: 256 << 20,
            miss_send_len: 0xffff,
        }
    }
}
