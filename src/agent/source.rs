//! The live agent's input: the watched directory ([`DirSource`], `--standalone DIR`) or the
//! controller's stream ([`ControllerSource`], `--controller URL`), both giving
//! [`SourceEvent`]s.

use crate::agent::controller_source::ControllerSource;
use crate::agent::outcome::Outcome;
use crate::agent::watch::{DirSource, SourceEvent};

/// Where the live agent's input comes from.
pub enum Source {
    /// A watched directory.
    Dir(DirSource),
    /// The controller.
    Controller(Box<ControllerSource>),
}

impl Source {
    /// The input as it is now, before any change: the directory's content, or the span kept
    /// in the state directory (`None` without one: the controller's first snapshot follows).
    pub async fn current(&mut self) -> Option<SourceEvent> {
        match self {
            Source::Dir(d) => Some(d.current().await),
            Source::Controller(c) => c.current(),
        }
    }

    /// The next change; `None` when the source stopped. Cancel-safe.
    pub async fn next(&mut self) -> Option<SourceEvent> {
        match self {
            Source::Dir(d) => d.next().await,
            Source::Controller(c) => c.next().await,
        }
    }

    /// Tells the source how the last event's realization went (the controller source reports
    /// it to the controller).
    pub fn realized(&mut self, outcome: Outcome) {
        if let Source::Controller(c) = self {
            c.realized(outcome);
        }
    }

    /// Tells the source that the input enforced was realized again with pods attached or
    /// detached (`outcome` a commit: the local pods still not attached).
    pub fn reattached(&mut self, outcome: Outcome) {
        if let Source::Controller(c) = self {
            c.reattached(outcome);
        }
    }
}
