//! Time: reconnect backoff, the echo probe, the handshake deadline and request and bundle
//! deadlines.

use super::*;

impl Session {
    /// The next deadline at which [`Session::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Backoff { retry_at } => Some(retry_at),
            State::Connecting => None,
            State::Handshake { deadline, .. } => Some(deadline),
            State::Active => {
                let probe = match self.probe_sent {
                    Some(sent) => sent + self.config.probe_timeout,
                    None => self.last_rx + self.config.probe_interval,
                };
                Some(
                    self.next_request_deadline()
                        .map_or(probe, |(d, _)| d.min(probe)),
                )
            }
        }
    }

    /// The earliest request or bundle deadline and whose it is (a scan: few requests are in
    /// flight at once, bundles being one each).
    pub(super) fn next_request_deadline(&self) -> Option<(Instant, Expiring)> {
        let requests = self.pending.iter().filter_map(|(&xid, p)| match p {
            Pending::Single(w) | Pending::Multipart(w, _) => {
                Some((w.deadline, Expiring::Request(xid)))
            }
            Pending::Confirm(_) => None,
        });
        let bundles = self
            .bundles
            .iter()
            .enumerate()
            .map(|(i, b)| (b.deadline, Expiring::Bundle(i)));
        requests.chain(bundles).min_by_key(|&(d, _)| d)
    }

    /// Time has passed: reconnect after backoff, probe an idle peer, give up on a dead one,
    /// fail a request past its deadline (dropping the connection). Also the way to tell the
    /// session the time before [`Session::request`] or [`Session::bundle`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        match self.state {
            State::Backoff { retry_at } if now >= retry_at => {
                self.state = State::Connecting;
                self.events.push_back(Event::Connect);
            }
            State::Handshake { deadline, .. } if now >= deadline => {
                self.drop_connection(now, DisconnectReason::HandshakeTimeout)
            }
            State::Active => match self.next_request_deadline() {
                Some((deadline, which)) if now >= deadline => self.expire(now, which),
                _ => match self.probe_sent {
                    Some(sent) if now >= sent + self.config.probe_timeout => {
                        self.drop_connection(now, DisconnectReason::ProbeTimeout)
                    }
                    None if now >= self.last_rx + self.config.probe_interval => {
                        let xid = self.xid();
                        self.queue(&Message::EchoRequest(Vec::new()), xid);
                        self.probe_sent = Some(now);
                    }
                    _ => {}
                },
            },
            _ => {}
        }
    }

    /// Fail the request or bundle past its deadline with [`Error::Timeout`] and drop the
    /// connection (the others fail as on any drop).
    pub(super) fn expire(&mut self, now: Instant, which: Expiring) {
        let (id, what, after) = match which {
            Expiring::Request(xid) => match self.pending.remove(&xid) {
                Some(Pending::Single(w) | Pending::Multipart(w, _)) => {
                    (w.id, w.what, self.config.request_timeout)
                }
                _ => return,
            },
            Expiring::Bundle(i) => {
                let b = self.bundles.remove(i);
                let phase = match b.phase {
                    BundlePhase::Adding { .. } => "bundle (adding)",
                    BundlePhase::Committing { .. } => "bundle (committing)",
                    BundlePhase::Discarding { .. } => "bundle (discarding)",
                };
                (b.id, phase.to_string(), self.config.bundle_timeout)
            }
        };
        self.events.push_back(Event::Response {
            id,
            result: Err(Error::Timeout {
                what: what.clone(),
                after,
            }),
        });
        self.drop_connection(now, DisconnectReason::RequestTimeout(what));
    }
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy)]
pub(super) enum Expiring {
    /// The request with this xid.
    Request(u32),
    /// The bundle at this index of `bundles`.
    Bundle(usize),
}
