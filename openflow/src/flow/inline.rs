//! [`InlineBytes`]: a byte string kept inline up to a capacity, on the heap beyond; what
//! [`super::Match`] and [`super::Instructions`] keep their wire bytes in.

/// Bytes inline up to `N` (at most 255), else on the heap. Equality, order and hash are the
/// slice's.
#[derive(Clone)]
pub(crate) enum InlineBytes<const N: usize> {
    Inline(u8, [u8; N]),
    Heap(Box<[u8]>),
}

impl<const N: usize> InlineBytes<N> {
    /// No bytes.
    pub(crate) const EMPTY: Self = InlineBytes::Inline(0, [0; N]);

    /// A copy of `b`: inline when it fits.
    #[inline]
    pub(crate) fn new(b: &[u8]) -> Self {
        if b.len() <= N {
            let mut inline = [0; N];
            inline[..b.len()].copy_from_slice(b);
            InlineBytes::Inline(b.len() as u8, inline)
        } else {
            InlineBytes::Heap(b.into())
        }
    }

    /// The bytes.
    #[inline]
    pub(crate) fn get(&self) -> &[u8] {
        match self {
            InlineBytes::Inline(len, b) => &b[..*len as usize],
            InlineBytes::Heap(b) => b,
        }
    }
}
