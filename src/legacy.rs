//! Moving users over from e-mail-keyed systems (docs/legacy.md): the legacy CSV and django-allauth
//! databases become [`LegacyUser`]s, which [`crate::store::legacy::import`] writes all at once.
//!
//! CSV columns: `legacy_user_id,username,display_name,email,provider`, one row per
//! (e-mail, provider); rows with the same `legacy_user_id` are one user. Line numbers count the
//! header as line 1. Depends on [`crate::identity`] (username rules) and [`crate::store`].

pub mod allauth;

use std::{collections::HashMap, io::Read};

use crate::{
    identity::{self, Username, UsernameProblem},
    store::legacy::{ImportError, LegacyMapping, LegacyUser},
    upstream::Provider,
};

const COLUMNS: [&str; 5] = ["legacy_user_id", "username", "display_name", "email", "provider"];

fn bad(line: usize, message: impl Into<String>) -> ImportError {
    ImportError::Row { line, message: message.into() }
}

/// Every bad line of a legacy CSV, in file order (docs/legacy.md#2-import).
#[derive(Debug, thiserror::Error)]
pub struct CsvErrors(pub Vec<ImportError>);

/// How many bad lines are spelt out; the rest are counted.
const SHOWN_ERRORS: usize = 100;

impl std::fmt::Display for CsvErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} bad lines:", many.len())?;
                for error in many.iter().take(SHOWN_ERRORS) {
                    write!(f, "\n  {error}")?;
                }
                if many.len() > SHOWN_ERRORS {
                    write!(f, "\n  … and {} more", many.len() - SHOWN_ERRORS)?;
                }
                Ok(())
            }
        }
    }
}

/// Parse and check a whole legacy CSV naming built-in providers only; see [`parse_csv_for`].
pub fn parse_csv(input: impl Read) -> Result<Vec<LegacyUser>, CsvErrors> {
    parse_csv_for(input, &Provider::BUILT_IN)
}

/// Parse and check a whole legacy CSV whose `provider` column may name any of `providers` (the
/// configured ones). Every bad row is reported, and any makes it all fail.
pub fn parse_csv_for(input: impl Read, providers: &[Provider]) -> Result<Vec<LegacyUser>, CsvErrors> {
    let one = |e: ImportError| CsvErrors(vec![e]);
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(input);
    let header = reader.headers().map_err(|e| one(bad(1, format!("unreadable header: {e}"))))?.clone();
    let mut index = [0usize; 5];
    for (slot, column) in index.iter_mut().zip(COLUMNS) {
        *slot = header.iter().position(|h| h == column).ok_or_else(|| {
            one(bad(1, format!("the header has no column {column:?} (expected {})", COLUMNS.join(","))))
        })?;
    }
    let mut users: Vec<LegacyUser> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut usernames: HashMap<String, (String, usize)> = HashMap::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let result = record
            .map_err(|e| bad(e.position().map_or(0, |p| p.line() as usize), format!("unreadable row: {e}")))
            .and_then(|record| {
                let line = record.position().map_or(0, |p| p.line() as usize);
                if record.len() != header.len() {
                    return Err(bad(line, format!("expected {} columns, found {}", header.len(), record.len())));
                }
                let field = |i: usize| record.get(index[i]).unwrap_or_default();
                check_row(line, [field(0), field(1), field(2), field(3), field(4)], providers)
            })
            .and_then(|row| add_row(&mut users, &mut by_id, &mut usernames, row));
        if let Err(error) = result {
            errors.push(error);
        }
    }
    if errors.is_empty() { Ok(users) } else { Err(CsvErrors(errors)) }
}

/// Add a checked row to its user, or refuse it when it contradicts the rows before it.
fn add_row(
    users: &mut Vec<LegacyUser>,
    by_id: &mut HashMap<String, usize>,
    usernames: &mut HashMap<String, (String, usize)>,
    row: Row,
) -> Result<(), ImportError> {
    let line = row.mapping.line;
    if let Some((other, other_line)) = usernames.get(&row.username).filter(|(id, _)| *id != row.legacy_id) {
        return Err(bad(
            line,
            format!("username {:?} is also used by legacy user {other:?} (line {other_line})", row.username),
        ));
    }
    match by_id.get(&row.legacy_id) {
        Some(&i) => {
            let user = &mut users[i];
            if user.username != row.username || user.display_name != row.display_name {
                return Err(bad(
                    line,
                    format!(
                        "legacy user {:?} is {:?} ({:?}) on line {} but {:?} ({:?}) here",
                        row.legacy_id, user.username, user.display_name, user.line, row.username, row.display_name
                    ),
                ));
            }
            let duplicate = user
                .mappings
                .iter()
                .any(|m| m.provider == row.mapping.provider && m.email.eq_ignore_ascii_case(&row.mapping.email));
            if !duplicate {
                user.mappings.push(row.mapping);
            }
        }
        None => {
            usernames.entry(row.username.clone()).or_insert((row.legacy_id.clone(), line));
            by_id.insert(row.legacy_id.clone(), users.len());
            users.push(LegacyUser {
                legacy_id: row.legacy_id,
                username: row.username,
                display_name: row.display_name,
                line,
                mappings: vec![row.mapping],
            });
        }
    }
    Ok(())
}

struct Row {
    legacy_id: String,
    username: String,
    display_name: String,
    mapping: LegacyMapping,
}

fn check_row(
    line: usize,
    [legacy_id, username, display_name, email, provider]: [&str; 5],
    providers: &[Provider],
) -> Result<Row, ImportError> {
    if legacy_id.is_empty() {
        return Err(bad(line, "legacy_user_id is empty"));
    }
    let username = Username::parse(username).map_err(|problem| {
        let why = match problem {
            UsernameProblem::TooShort => "is shorter than 3 characters",
            UsernameProblem::TooLong => "is longer than 32 characters",
            UsernameProblem::BadCharacters | UsernameProblem::Taken => "may only contain a-z, 0-9, '.', '_' and '-'",
        };
        bad(line, format!("username {username:?} {why}"))
    })?;
    let display_name = if display_name.is_empty() {
        username.to_string()
    } else {
        identity::parse_display_name(display_name)
            .ok_or_else(|| bad(line, format!("display_name {display_name:?} is longer than 64 characters")))?
    };
    if !email_address::EmailAddress::is_valid(email) {
        return Err(bad(line, format!("malformed e-mail {email:?}")));
    }
    // A domain without a dot (`han.yu@gmail`) is valid syntax but no address a provider reports.
    if !email.rsplit_once('@').is_some_and(|(_, domain)| domain.contains('.')) {
        return Err(bad(line, format!("malformed e-mail {email:?}: its domain has no dot")));
    }
    // Providers are lower case; anything else is a bad row (docs/legacy.md).
    let provider = providers.iter().find(|p| p.as_str() == provider).ok_or_else(|| {
        let names: Vec<&str> = providers.iter().map(|p| p.as_str()).collect();
        bad(line, format!("unknown provider {provider:?} ({}, in lower case)", names.join(", ")))
    })?;
    Ok(Row {
        legacy_id: legacy_id.to_owned(),
        username: username.to_string(),
        display_name,
        mapping: LegacyMapping { provider: provider.as_str().to_owned(), email: email.to_owned(), uid: None, line },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<LegacyUser>, CsvErrors> {
        parse_csv(text.as_bytes())
    }

    fn error_of(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const HEADER: &str = "legacy_user_id,username,display_name,email,provider\n";

    #[test]
    fn rows_of_one_legacy_id_make_one_user() {
        let users = parse(&format!(
            "{HEADER}7,kim,Kim Minsu,kim@naver.com,naver\n7,kim,Kim Minsu,KIM@gmail.com,google\n8,lee,,lee@kakao.com,kakao\n7,kim,Kim Minsu,kim@naver.com,naver\n"
        ))
        .unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].mappings.len(), 2, "the repeated row counts once");
        assert_eq!(users[0].line, 2);
        assert_eq!(users[1].display_name, "lee", "an empty display name falls back to the username");
        assert_eq!(users[1].mappings[0].line, 4);
    }

    #[test]
    fn columns_may_come_in_any_order() {
        let users = parse("provider,email,username,display_name,legacy_user_id\nnaver,a@b.kr,abc,A,1\n").unwrap();
        assert_eq!(users[0].legacy_id, "1");
        assert_eq!(users[0].mappings[0].provider, "naver");
    }

    #[test]
    fn bad_rows_name_their_line() {
        let cases = [
            (format!("{HEADER}1,kim,Kim,kim@naver.com,naver\n2,lee,Lee,lee@naver.com\n"), "line 3: expected 5 columns"),
            (format!("{HEADER}1,kim,Kim,kim@naver.com,facebook\n"), "line 2: unknown provider \"facebook\""),
            (format!("{HEADER}1,kim,Kim,kim@naver.com,Naver\n"), "line 2: unknown provider \"Naver\""),
            (format!("{HEADER}1,kim,Kim,not-an-email,naver\n"), "line 2: malformed e-mail"),
            (
                format!("{HEADER}1,han,Han,han.yu@gmail,google\n"),
                "line 2: malformed e-mail \"han.yu@gmail\": its domain",
            ),
            (format!("{HEADER}1,Kim Minsu,Kim,kim@naver.com,naver\n"), "line 2: username \"Kim Minsu\""),
            (format!("{HEADER},kim,Kim,kim@naver.com,naver\n"), "line 2: legacy_user_id is empty"),
            (
                format!("{HEADER}1,kim,Kim,kim@naver.com,naver\n2,kim,Kim,k2@naver.com,naver\n"),
                "line 3: username \"kim\" is also used",
            ),
            (
                format!("{HEADER}1,kim,Kim,kim@naver.com,naver\n1,kim2,Kim,k2@naver.com,google\n"),
                "line 3: legacy user \"1\"",
            ),
            (
                "legacy_user_id,username,email,provider\n1,kim,kim@naver.com,naver\n".to_owned(),
                "line 1: the header has no column \"display_name\"",
            ),
        ];
        for (text, expected) in cases {
            let message = error_of(&text);
            assert!(message.starts_with(expected), "{message:?} should start with {expected:?}");
        }
    }

    #[test]
    fn every_bad_line_is_reported_at_once() {
        let text = format!(
            "{HEADER}1,kim,Kim,kim@naver.com,naver\n2,lee,Lee,lee@naver.com,facebook\n3,park,Park,park@gmail,google\n4,choi,Choi,choi@kakao.com,kakao\n5,kim,Kim,k5@naver.com,naver\n6,x\n"
        );
        let errors = parse(&text).unwrap_err();
        let lines: Vec<usize> = errors
            .0
            .iter()
            .map(|e| match e {
                ImportError::Row { line, .. } => *line,
                ImportError::Store(_) => 0,
            })
            .collect();
        assert_eq!(lines, [3, 4, 6, 7]);
        let message = errors.to_string();
        assert!(message.starts_with("4 bad lines:\n  line 3: unknown provider \"facebook\""), "{message}");
        for expected in [
            "\n  line 4: malformed e-mail",
            "\n  line 6: username \"kim\" is also used",
            "\n  line 7: expected 5 columns",
        ] {
            assert!(message.contains(expected), "{expected:?} in {message}");
        }
    }

    #[test]
    fn a_long_list_of_bad_lines_is_cut_short() {
        let text = format!("{HEADER}{}", "1,kim,Kim,kim@naver.com,facebook\n".repeat(SHOWN_ERRORS + 5));
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.starts_with(&format!("{} bad lines:", SHOWN_ERRORS + 5)), "{message}");
        assert!(message.ends_with("\n  … and 5 more"), "{message}");
        assert_eq!(message.lines().count(), SHOWN_ERRORS + 2);
    }

    #[test]
    fn the_same_email_under_two_legacy_ids_is_allowed() {
        let users =
            parse(&format!("{HEADER}1,kim,Kim,same@naver.com,naver\n2,lee,Lee,same@naver.com,naver\n")).unwrap();
        assert_eq!(users.len(), 2);
    }

    #[test]
    fn a_configured_provider_may_be_named_and_only_then() {
        let text = format!("{HEADER}1,kim,Kim,kim@line.me,line-csv\n");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.starts_with("line 2: unknown provider \"line-csv\" (google, naver, kakao, apple"), "{error}");
        let line = Provider::intern("line-csv").unwrap();
        let users = parse_csv_for(text.as_bytes(), &[Provider::Google, line]).unwrap();
        assert_eq!(users[0].mappings[0].provider, "line-csv");
        let error = parse_csv_for(format!("{HEADER}1,kim,Kim,kim@naver.com,naver\n").as_bytes(), &[line]).unwrap_err();
        assert!(error.to_string().contains("unknown provider \"naver\" (line-csv,"), "{error}");
    }
}
