//! The handshake: HELLO and version negotiation (OF1.3 §6.3.1), FEATURES, SET_CONFIG,
//! the packet-in format, then a BARRIER.

use super::*;

impl Session {
    pub(super) fn handshake(&mut self, now: Instant, step: Handshake, xid: u32, message: Message) {
        let deadline = match self.state {
            State::Handshake { deadline, .. } => deadline,
            _ => return,
        };
        match (step, message) {
            (Handshake::Hello, Message::Hello(h)) => match negotiate(self.config.versions, &h) {
                Some(OFP13_VERSION) => {
                    let xid = self.xid();
                    self.queue(&Message::FeaturesRequest, xid);
                    self.state = State::Handshake {
                        deadline,
                        step: Handshake::Features { xid },
                    };
                }
                other => {
                    let err = Message::Error(OfpError::new(
                        ErrorCode::HelloFailed(HelloFailedCode::Incompatible),
                        b"need OpenFlow 1.3".to_vec(),
                    ));
                    self.queue(&err, xid);
                    let why = match other {
                        Some(v) => format!("negotiated version {v:#04x}, not OpenFlow 1.3"),
                        None => format!("no common version with peer hello {h:?}"),
                    };
                    self.drop_connection(now, DisconnectReason::Handshake(why));
                }
            },
            (Handshake::Features { xid: want }, Message::FeaturesReply(features))
                if xid == want =>
            {
                let config = SwitchConfig {
                    flags: 0,
                    miss_send_len: self.config.miss_send_len,
                };
                let x = self.xid();
                self.queue(&Message::SetConfig(config), x);
                self.format_xid = self.packet_in_format.map(|f| {
                    let x = self.xid();
                    self.queue(&Message::SetPacketInFormat(f), x);
                    x
                });
                let barrier = self.xid();
                self.queue(&Message::BarrierRequest, barrier);
                self.state = State::Handshake {
                    deadline,
                    step: Handshake::Barrier {
                        xid: barrier,
                        features,
                    },
                };
            }
            (
                Handshake::Barrier {
                    xid: want,
                    features,
                },
                Message::BarrierReply,
            ) if xid == want => {
                self.state = State::Active;
                self.backoff = self.config.backoff_min;
                self.features = Some(features);
                self.events.push_back(Event::Connected {
                    features,
                    reconnect: self.ever_connected,
                });
                self.ever_connected = true;
            }
            (_, Message::Error(e)) if Some(xid) == self.format_xid => {
                // The switch refuses the packet-in format it took before: keep the connection
                // (the handshake step is unchanged), forget the format.
                tracing::warn!(error = %e, "packet-in format refused after reconnect; not kept");
                self.packet_in_format = None;
                self.format_xid = None;
            }
            (_, Message::Error(e)) => {
                self.drop_connection(now, DisconnectReason::Handshake(e.to_string()))
            }
            (_, message) => tracing::debug!(?message, "ignored during handshake"),
        }
    }
}

/// The version both sides speak (OF1.3 §6.3.1): the highest bit set in both bitmaps, or without a
/// peer bitmap the lower of the two header versions if we support it.
pub fn negotiate(ours: u32, peer: &Hello) -> Option<u8> {
    let bitmap = peer.elements.iter().find_map(|e| match e {
        HelloElement::VersionBitmap(b) => b.first().copied(),
        _ => None,
    });
    let common = match bitmap {
        Some(theirs) => ours & theirs,
        None => {
            let our_max = 31 - ours.leading_zeros().min(31) as u8;
            let v = peer.version.min(our_max);
            if v < 32 {
                ours & (1u32 << v)
            } else {
                0
            }
        }
    };
    (common != 0).then(|| 31 - common.leading_zeros() as u8)
}
