//! Record ids, one type per kind of record, so an id of one kind cannot be passed where another
//! is expected. Each is a database id: a JSON number, a number in a form field or a URL path.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "ssr", derive(sqlx::Type, utoipa::ToSchema), sqlx(transparent))]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.parse().map(Self)
            }
        }
    )*};
}

ids! {
    /// A user (account or guest).
    UserId;
    /// A browser session of a user (what the session cookie stands for).
    BrowserSessionId;
    /// An API token.
    TokenId;
    /// A stored classification event.
    EventId;
    /// A sighting: a label on a stream from its appearance until it left.
    SightingId;
    /// An alert rule.
    RuleId;
    /// An alert a rule fired.
    AlertId;
    /// A chat session (a conversation).
    ChatSessionId;
    /// A message of a chat session.
    MessageId;
    /// A chat preset.
    PresetId;
    /// A file attached to a chat message.
    FileId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_numbers_on_the_wire() {
        assert_eq!(serde_json::to_string(&RuleId(7)).unwrap(), "7");
        assert_eq!(serde_json::from_str::<MessageId>("42").unwrap(), MessageId(42));
        assert_eq!("12".parse::<ChatSessionId>().unwrap(), ChatSessionId(12));
        assert_eq!(UserId(3).to_string(), "3");
    }
}
