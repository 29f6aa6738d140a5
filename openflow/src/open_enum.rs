//! `open_enum!`: a wire code table as data. Each row is `Variant = code, "OVS name"`; the
//! generated enum has an `Unknown(n)` arm so that every value decodes and re-emits unchanged.

/// Declare an open enum over an integer wire type with `code()`, `from_code()` and `name()`.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $ty:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $code:expr, $text:expr; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// Any other value, kept as is.
            Unknown($ty),
        }

        impl $name {
            /// The wire value.
            pub fn code(self) -> $ty {
                match self {
                    $( $name::$variant => $code, )*
                    $name::Unknown(n) => n,
                }
            }

            /// From the wire value (never fails: unknown values give `Unknown`).
            pub fn from_code(n: $ty) -> Self {
                match n {
                    $( $code => $name::$variant, )*
                    n => $name::Unknown(n),
                }
            }

            /// OVS's name for the value, `None` for `Unknown`.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($text), )*
                    $name::Unknown(_) => None,
                }
            }
        }
    };
}
