//! Input validation with AWS's `ValidationError` messages.

use crate::IamError;
use crate::model::Tag;

/// `[\w+=,.@-]+`: the name pattern of users, roles, policies and instance profiles.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

fn constraint(value: &str, field: &str, what: &str) -> IamError {
    IamError::Validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {what}"
    ))
}

/// Validates an entity name: 1..=max characters of `[\w+=,.@-]`.
pub fn name(value: &str, field: &str, max: usize) -> Result<(), IamError> {
    if value.is_empty() {
        return Err(constraint(
            value,
            field,
            "Member must have length greater than or equal to 1",
        ));
    }
    if value.chars().count() > max {
        return Err(constraint(
            value,
            field,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    if !value.chars().all(is_name_char) {
        return Err(constraint(
            value,
            field,
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        ));
    }
    Ok(())
}

/// Validates a path: `/` or `/.../` of printable ASCII, at most 512 characters.
pub fn path(value: &str, field: &str) -> Result<(), IamError> {
    let ok = value.len() <= 512
        && (value == "/"
            || (value.len() >= 2
                && value.starts_with('/')
                && value.ends_with('/')
                && value.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c))));
    if ok {
        Ok(())
    } else {
        Err(constraint(
            value,
            field,
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
        ))
    }
}

/// Validates a role's maximum session duration (3600..=43200 seconds).
pub fn max_session_duration(value: u32) -> Result<(), IamError> {
    if value < 3600 {
        return Err(constraint(
            &value.to_string(),
            "maxSessionDuration",
            "Member must have value greater than or equal to 3600",
        ));
    }
    if value > 43200 {
        return Err(constraint(
            &value.to_string(),
            "maxSessionDuration",
            "Member must have value less than or equal to 43200",
        ));
    }
    Ok(())
}

/// Validates a description (at most 1000 characters).
pub fn description(value: &str) -> Result<(), IamError> {
    if value.chars().count() > 1000 {
        return Err(constraint(
            value,
            "description",
            "Member must have length less than or equal to 1000",
        ));
    }
    Ok(())
}

/// Validates tags: at most 50, keys 1..=128 and values 0..=256 characters, no duplicate keys.
pub fn tags(tags: &[Tag]) -> Result<(), IamError> {
    if tags.len() > 50 {
        return Err(IamError::LimitExceeded(
            "The number of tags has reached the maximum limit.".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(constraint(
                &t.key,
                "tags.member.key",
                "Member must have length between 1 and 128",
            ));
        }
        if t.value.chars().count() > 256 {
            return Err(constraint(
                &t.value,
                "tags.member.value",
                "Member must have length less than or equal to 256",
            ));
        }
        if t.key.starts_with("aws:") {
            return Err(IamError::InvalidInput(
                "User-defined tag keys can't start with 'aws:'.".into(),
            ));
        }
        if !seen.insert(t.key.to_ascii_lowercase()) {
            return Err(IamError::InvalidInput(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        assert!(name("CrossAccountS3AccessRole", "roleName", 64).is_ok());
        assert!(name("a+b=c,d.e@f-g_h", "roleName", 64).is_ok());
        assert!(name("bad name", "roleName", 64).is_err());
        assert!(name("", "roleName", 64).is_err());
        assert!(name(&"a".repeat(65), "roleName", 64).is_err());
    }

    #[test]
    fn paths() {
        assert!(path("/", "path").is_ok());
        assert!(path("/service-role/", "path").is_ok());
        assert!(path("service-role/", "path").is_err());
        assert!(path("/a b/", "path").is_err());
        assert!(path("//", "path").is_err() || path("//", "path").is_ok());
    }

    proptest! {
        #[test]
        fn validation_never_panics(s in ".*") {
            let _ = name(&s, "roleName", 64);
            let _ = path(&s, "path");
            let _ = description(&s);
        }
    }
}
