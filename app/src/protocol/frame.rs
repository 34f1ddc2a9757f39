use serde::de::DeserializeOwned;

use super::ApiError;

/// Parses one websocket text frame into a typed message: anything that does not parse is a
/// `bad_request` error that says why, never a panic.
pub fn parse_frame<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::bad_request(format!("invalid message: {e}")))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::{ErrorCode, EventRequest, LiveRequest};

    #[test]
    fn known_messages_parse_and_others_are_explained() {
        assert_eq!(parse_frame::<LiveRequest>(r#"{"type":"ping"}"#), Ok(LiveRequest::Ping));
        let error = parse_frame::<LiveRequest>(r#"{"type":"launch"}"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::BadRequest);
        assert!(error.message.contains("launch"), "{}", error.message);
        assert!(parse_frame::<LiveRequest>("not json").is_err());
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-z_]{0,12}".prop_map(serde_json::Value::from),
            ".{0,20}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop_oneof![Just("type".to_owned()), "[a-z_]{1,10}".prop_map(String::from)],
                    inner,
                    0..8
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_frame::<LiveRequest>(&text);
            let _ = parse_frame::<EventRequest>(&text);
        }

        #[test]
        fn arbitrary_json_parses_or_is_a_bad_request(value in json()) {
            let text = value.to_string();
            if let Err(error) = parse_frame::<LiveRequest>(&text) {
                prop_assert_eq!(error.code, ErrorCode::BadRequest);
            }
            if let Err(error) = parse_frame::<EventRequest>(&text) {
                prop_assert_eq!(error.code, ErrorCode::BadRequest);
            }
        }
    }
}
