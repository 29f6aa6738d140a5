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

/// Run `f` with an empty per-thread scratch buffer (what building a [`super::Match`] or
/// [`super::Instructions`] writes its bytes into before they are copied in): no allocation per
/// build. A buffer grown past 64 KiB by a huge list is let go afterwards.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let r = f(&mut buf);
            if buf.capacity() > 1 << 16 {
                *buf = Vec::new();
            }
            r
        }
        // Re-entered (cannot happen today): a buffer of its own.
        Err(_) => f(&mut Vec::new()),
    })
}

/// The conversions of a list type kept as bytes (`$list`, built by `$build(&[$item])`): from a
/// `Vec`, a slice, an array and any iterator of `$item`.
macro_rules! from_items {
    ($list:ty, $item:ty, $build:path) => {
        impl From<Vec<$item>> for $list {
            fn from(v: Vec<$item>) -> Self {
                $build(&v)
            }
        }

        impl From<&[$item]> for $list {
            fn from(v: &[$item]) -> Self {
                $build(v)
            }
        }

        impl<const N: usize> From<[$item; N]> for $list {
            fn from(v: [$item; N]) -> Self {
                $build(&v)
            }
        }

        impl FromIterator<$item> for $list {
            fn from_iter<I: IntoIterator<Item = $item>>(it: I) -> Self {
                let v: Vec<$item> = it.into_iter().collect();
                $build(&v)
            }
        }
    };
}
pub(crate) use from_items;
