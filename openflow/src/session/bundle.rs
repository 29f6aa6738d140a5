//! Atomic bundles (ONF extension 230 for OF1.3): OPEN, BUNDLE_ADDs and a BARRIER, then
//! COMMIT or DISCARD, with errors attributed to the flow_mod by xid.

use super::*;

/// Bytes per buffer handed out by [`Session::poll_transmit`] for a large bundle.
pub(super) const TRANSMIT_CHUNK: usize = 256 * 1024;

#[derive(Debug)]
pub(super) enum BundlePhase {
    /// OPEN, ADDs and a BARRIER are out; errors are collected until that barrier's reply.
    Adding { barrier: u32 },
    /// COMMIT and a BARRIER are out.
    Committing { commit: u32, barrier: u32 },
    /// DISCARD is out after a failure.
    Discarding { discard: u32 },
}

#[derive(Debug)]
pub(super) struct BundleOp {
    pub(super) id: RequestId,
    pub(super) open: u32,
    pub(super) xids: BundleXids,
    pub(super) bundle_id: u32,
    pub(super) phase: BundlePhase,
    /// The first error that names a flow_mod (else the first error): the flow_mod's index
    /// (None for OPEN/COMMIT) and the switch's ERROR.
    pub(super) failure: Option<(Option<usize>, OfpError)>,
    /// When the current phase must have ended.
    pub(super) deadline: Instant,
}

impl BundleOp {
    pub(super) fn owns(&self, xid: u32) -> bool {
        xid == self.open
            || self.xids.index_of(xid).is_some()
            || match self.phase {
                BundlePhase::Adding { barrier } => xid == barrier,
                BundlePhase::Committing { commit, barrier } => xid == commit || xid == barrier,
                BundlePhase::Discarding { discard } => xid == discard,
            }
    }
}

impl Session {
    /// Apply `flow_mods` as one atomic, ordered bundle, like `ovs-ofctl --bundle add-flows`:
    /// OPEN, one BUNDLE_ADD per flow_mod and a BARRIER go out at once; at the barrier's reply
    /// COMMIT + BARRIER follow if nothing failed, DISCARD otherwise. The response is
    /// [`Response::BundleCommitted`] or [`Error::Bundle`] with the index of the first failing
    /// flow_mod (`flow` is left `None`: the caller has the flow_mods), or [`Error::BundleLost`]
    /// when the connection drops first. Every flow_mod is checked first ([`FlowMod::validate`]):
    /// if one fails, nothing of the bundle is sent and the response is [`Error::Invalid`] with
    /// its index.
    pub fn bundle(&mut self, flow_mods: &[FlowMod]) -> RequestId {
        let valid = validate::check_all(flow_mods);
        self.bundle_with(valid, flow_mods.len(), |i, buf| flow_mods[i].emit(buf))
    }

    /// [`Session::bundle`] of flow_mods already encoded: each of `bodies` is a FLOW_MOD body
    /// (what [`FlowMod::emit`] writes, without the 8-byte header). Lets a caller that keeps its
    /// flows encoded (a reconciler holding 100k flows) install them without decoding: the
    /// bodies are checked in place, as [`FlowMod::validate`] checks a flow_mod (action bodies
    /// aside), and an invalid one stops the bundle before anything is sent.
    pub fn bundle_encoded(&mut self, bodies: &[&[u8]]) -> RequestId {
        let valid = validate::check_all_encoded(bodies.iter().copied());
        self.bundle_with(valid, bodies.len(), |i, buf| {
            buf.extend_from_slice(bodies[i])
        })
    }

    pub(super) fn bundle_with(
        &mut self,
        valid: Result<(), Error>,
        n: usize,
        body: impl Fn(usize, &mut Vec<u8>),
    ) -> RequestId {
        let id = self.id();
        if let Err(e) = valid {
            self.events
                .push_back(Event::Response { id, result: Err(e) });
            return id;
        }
        if self.state != State::Active {
            self.events.push_back(Event::Response {
                id,
                result: Err(Error::Closed),
            });
            return id;
        }
        let bundle_id = self.next_bundle;
        self.next_bundle = self.next_bundle.wrapping_add(1);
        let flags = OFPBF_ATOMIC | OFPBF_ORDERED;
        let open = self.xid();
        self.queue(
            &Message::BundleControl(BundleControl::new(
                bundle_id,
                BundleCtrlType::OpenRequest,
                flags,
            )),
            open,
        );
        // A contiguous run of xids, so an error's xid gives the flow_mod's index.
        let mut base = self.next_xid;
        if base.checked_add(n as u32 + 1).is_none() {
            base = 1;
        }
        self.next_xid = base + n as u32;
        let mut buf = Vec::with_capacity(TRANSMIT_CHUNK + 4096);
        for i in 0..n {
            emit_bundle_add(base + i as u32, bundle_id, flags, |b| body(i, b), &mut buf);
            if buf.len() >= TRANSMIT_CHUNK {
                self.tx.push_back(std::mem::take(&mut buf));
                buf.reserve(TRANSMIT_CHUNK + 4096);
            }
        }
        let barrier = self.xid();
        Message::BarrierRequest.emit(barrier, &mut buf);
        self.tx.push_back(buf);
        self.bundles.push(BundleOp {
            id,
            open,
            xids: BundleXids {
                first: base,
                len: n,
            },
            bundle_id,
            phase: BundlePhase::Adding { barrier },
            failure: None,
            deadline: self.now + self.config.bundle_timeout,
        });
        id
    }

    pub(super) fn bundle_message(&mut self, i: usize, xid: u32, message: Message) {
        let b = &mut self.bundles[i];
        if let Message::Error(e) = message {
            let index = b.xids.attribute(xid, &e);
            let better = match &b.failure {
                None => true,
                Some((known, _)) => known.is_none() && index.is_some(),
            };
            if better {
                b.failure = Some((index, e));
            }
            if !matches!(b.phase, BundlePhase::Discarding { discard } if discard == xid) {
                return;
            }
        }
        let flags = OFPBF_ATOMIC | OFPBF_ORDERED;
        let bundle_id = b.bundle_id;
        match b.phase {
            BundlePhase::Adding { barrier } if xid == barrier => {
                if b.failure.is_some() {
                    let discard = self.xid();
                    self.bundles[i].phase = BundlePhase::Discarding { discard };
                    self.bundles[i].deadline = self.now + self.config.bundle_timeout;
                    let ctrl = BundleControl::new(bundle_id, BundleCtrlType::DiscardRequest, flags);
                    self.queue(&Message::BundleControl(ctrl), discard);
                } else {
                    let commit = self.xid();
                    let barrier = self.xid();
                    self.bundles[i].phase = BundlePhase::Committing { commit, barrier };
                    self.bundles[i].deadline = self.now + self.config.bundle_timeout;
                    let ctrl = BundleControl::new(bundle_id, BundleCtrlType::CommitRequest, flags);
                    self.queue(&Message::BundleControl(ctrl), commit);
                    self.queue(&Message::BarrierRequest, barrier);
                }
            }
            BundlePhase::Committing { barrier, .. } if xid == barrier => self.finish_bundle(i),
            BundlePhase::Discarding { discard } if xid == discard => self.finish_bundle(i),
            _ => {} // OPEN_REPLY, COMMIT_REPLY
        }
    }

    pub(super) fn finish_bundle(&mut self, i: usize) {
        let b = self.bundles.remove(i);
        let result = match b.failure {
            None => Ok(Response::BundleCommitted),
            Some((index, error)) => Err(Error::Bundle {
                index,
                error,
                flow: None,
            }),
        };
        self.events.push_back(Event::Response { id: b.id, result });
    }
}

/// ONFT_BUNDLE_ADD_MESSAGE wrapping an OFPT_FLOW_MOD, both with `xid`, written straight into
/// `buf` (no intermediate [`Message`]).
pub(super) fn emit_bundle_add(
    xid: u32,
    bundle_id: u32,
    flags: u16,
    body: impl FnOnce(&mut Vec<u8>),
    buf: &mut Vec<u8>,
) {
    let start = buf.len();
    buf.extend_from_slice(&[OFP13_VERSION, 4, 0, 0]);
    buf.extend_from_slice(&xid.to_be_bytes());
    buf.extend_from_slice(&ONF_VENDOR_ID.to_be_bytes());
    buf.extend_from_slice(&ONFT_BUNDLE_ADD_MESSAGE.to_be_bytes());
    buf.extend_from_slice(&bundle_id.to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&flags.to_be_bytes());
    let inner = buf.len();
    buf.extend_from_slice(&[OFP13_VERSION, 14, 0, 0]);
    buf.extend_from_slice(&xid.to_be_bytes());
    body(buf);
    // The bodies were checked to fit (`validate::check_all*`), so neither length is 0 here.
    let end = buf.len();
    put_len_at(buf, inner + 2, end - inner);
    put_len_at(buf, start + 2, end - start);
}
