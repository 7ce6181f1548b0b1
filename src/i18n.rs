//! Page text in Korean and English, chosen from `Accept-Language` (Korean when it ranks `ko`
//! above `en`, English otherwise). Each language is one [`Messages`] value, so a missing
//! translation is a compile error. Depends on nothing else in the crate.

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Ko,
}

impl Lang {
    /// Pick from an `Accept-Language` header: the first of `ko`/`en` by quality, then order.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        let Some(header) = header else { return Self::default() };
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality =
                pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("ko") => Lang::Ko,
                Some("en") => Lang::En,
                _ => continue,
            };
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map_or_else(Self::default, |(_, lang)| lang)
    }

    /// Pick from an OpenID `ui_locales` parameter (space-separated tags, preferred first): the
    /// first of `ko`/`en`, or `None` when it names neither.
    pub fn from_ui_locales(ui_locales: &str) -> Option<Self> {
        ui_locales.split(' ').find_map(|tag| match tag.split('-').next().map(str::to_ascii_lowercase).as_deref() {
            Some("ko") => Some(Lang::Ko),
            Some("en") => Some(Lang::En),
            _ => None,
        })
    }

    pub fn messages(self) -> &'static Messages {
        match self {
            Self::En => &EN,
            Self::Ko => &KO,
        }
    }
}

impl Messages {
    /// The sign-in button's label of a provider (by its id, `google`, `naver`, `kakao`).
    pub fn sign_in_with(&self, provider: &str) -> &'static str {
        match provider {
            "google" => self.sign_in_google,
            "naver" => self.sign_in_naver,
            _ => self.sign_in_kakao,
        }
    }

    /// A provider's name (by its id) in this language.
    pub fn brand(&self, provider: &str) -> &'static str {
        match provider {
            "google" => self.brand_google,
            "naver" => self.brand_naver,
            _ => self.brand_kakao,
        }
    }

    /// An action on a named thing, in this language's word order, for the accessible name of a
    /// button that shows only the action: "Remove Google", "Google 연결 해제".
    pub fn action_on(&self, action: &str, object: &str) -> String {
        match self.lang {
            "ko" => format!("{object} {action}"),
            _ => format!("{action} {object}"),
        }
    }

    /// A scope in plain words, for the consent page.
    pub fn scope(&self, scope: &str) -> &'static str {
        match scope {
            "openid" => self.scope_openid,
            "profile" => self.scope_profile,
            "email" => self.scope_email,
            _ => self.scope_other,
        }
    }
}

/// Every string a page shows.
pub struct Messages {
    pub lang: &'static str,
    /// How a page writes a date and time (chrono's `strftime` syntax), in `display_timezone`.
    pub date_format: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in_lead: &'static str,
    /// The providers' own wording for their sign-in buttons (their login-button guidelines).
    pub sign_in_google: &'static str,
    pub sign_in_naver: &'static str,
    pub sign_in_kakao: &'static str,
    /// The providers' names as each language writes them.
    pub brand_google: &'static str,
    pub brand_naver: &'static str,
    pub brand_kakao: &'static str,
    /// Around a provider's name on the account page's link buttons.
    pub link_before: &'static str,
    pub link_after: &'static str,
    /// The next step on an error page met while working on the account.
    pub back_to_account: &'static str,
    pub no_providers: &'static str,
    pub signup_title: &'static str,
    pub signup_lead: &'static str,
    pub username_label: &'static str,
    pub username_help: &'static str,
    pub display_name_label: &'static str,
    pub display_name_help: &'static str,
    pub signup_submit: &'static str,
    pub signup_errors_title: &'static str,
    pub err_username_short: &'static str,
    pub err_username_long: &'static str,
    pub err_username_chars: &'static str,
    pub err_username_taken: &'static str,
    pub err_display_name: &'static str,
    pub consent_title: &'static str,
    pub consent_lead: &'static str,
    pub consent_before: &'static str,
    pub consent_after: &'static str,
    pub back_to_sign_in: &'static str,
    pub account_title: &'static str,
    pub username: &'static str,
    pub display_name: &'static str,
    pub email: &'static str,
    pub member_since: &'static str,
    pub linked_accounts: &'static str,
    pub provider: &'static str,
    pub linked_at: &'static str,
    pub last_login: &'static str,
    pub never: &'static str,
    pub none: &'static str,
    pub sign_out: &'static str,
    pub sign_out_everywhere: &'static str,
    pub sessions_title: &'static str,
    pub session_this_browser: &'static str,
    pub session_unknown_device: &'static str,
    pub session_started: &'static str,
    pub session_last_seen: &'static str,
    pub session_end: &'static str,
    pub cancelled_title: &'static str,
    pub cancelled_lead: &'static str,
    pub try_again: &'static str,
    pub error_title: &'static str,
    pub request_id: &'static str,
    pub err_bad_request: &'static str,
    pub err_state: &'static str,
    pub err_csrf: &'static str,
    pub err_signup_expired: &'static str,
    pub err_upstream: &'static str,
    pub err_unavailable: &'static str,
    pub err_closed: &'static str,
    pub err_legacy_ambiguous: &'static str,
    pub err_authorize: &'static str,
    pub err_identity_already_linked: &'static str,
    pub err_last_identity: &'static str,
    pub err_link_other_user: &'static str,
    pub err_link_expired: &'static str,
    pub link_another: &'static str,
    pub gmail_title: &'static str,
    pub gmail_connect: &'static str,
    pub gmail_active: &'static str,
    pub gmail_needs_reauth: &'static str,
    pub gmail_no_send: &'static str,
    pub gmail_equipped_to: &'static str,
    pub gmail_equip: &'static str,
    pub gmail_unequip: &'static str,
    pub gmail_disconnect: &'static str,
    pub gmail_target_label: &'static str,
    pub err_gmail_scope_missing: &'static str,
    pub err_rate_limited: &'static str,
    pub unlink: &'static str,
    pub err_not_found: &'static str,
    pub err_internal: &'static str,
    pub skip_to_content: &'static str,
    pub end_session_title: &'static str,
    pub end_session_lead: &'static str,
    pub end_session_app: &'static str,
    pub end_session_confirm: &'static str,
    pub end_session_stay: &'static str,
    pub signed_out_title: &'static str,
    pub signed_out_lead: &'static str,
    pub err_end_session: &'static str,
    pub app_consent_title: &'static str,
    pub app_consent_lead: &'static str,
    pub app_consent_allow: &'static str,
    pub app_consent_deny: &'static str,
    pub app_consent_later: &'static str,
    pub scope_openid: &'static str,
    pub scope_profile: &'static str,
    pub scope_email: &'static str,
    pub scope_other: &'static str,
    pub apps_title: &'static str,
    pub apps_none: &'static str,
    pub app_third_party: &'static str,
    pub app_authorized: &'static str,
    pub app_last_used: &'static str,
    pub app_remove: &'static str,
}

pub static EN: Messages = Messages {
    lang: "en",
    date_format: "%-d %b %Y, %H:%M %Z",
    sign_in_title: "Sign in",
    sign_in_lead: "Choose how you want to sign in.",
    sign_in_google: "Sign in with Google",
    sign_in_naver: "Log in with NAVER",
    sign_in_kakao: "Login with Kakao",
    brand_google: "Google",
    brand_naver: "NAVER",
    brand_kakao: "Kakao",
    link_before: "Link ",
    link_after: "",
    back_to_account: "Back to your account",
    no_providers: "No sign-in method is configured yet. Ask the operator to set up a provider.",
    signup_title: "Create your account",
    signup_lead: "This is your first sign-in. Choose the name people will know you by.",
    username_label: "Username",
    username_help: "3 to 32 characters: lower-case letters, digits, '.', '_' or '-'.",
    display_name_label: "Display name",
    display_name_help: "How your name is shown, up to 64 characters.",
    signup_submit: "Create account",
    signup_errors_title: "Please fix the following:",
    err_username_short: "The username is too short: use at least 3 characters.",
    err_username_long: "The username is too long: use at most 32 characters.",
    err_username_chars: "The username may only contain lower-case letters, digits, '.', '_' and '-'.",
    err_username_taken: "This username is taken. Please choose another.",
    err_display_name: "Enter a display name of 1 to 64 characters.",
    consent_title: "Your e-mail address is needed",
    consent_lead: "You chose not to share your e-mail address. munji needs it to sign you in; nothing was created.",
    consent_before: "Share my e-mail with ",
    consent_after: "",
    back_to_sign_in: "Back to sign in",
    account_title: "Your account",
    username: "Username",
    display_name: "Display name",
    email: "E-mail",
    member_since: "Member since",
    linked_accounts: "Linked accounts",
    provider: "Provider",
    linked_at: "Linked",
    last_login: "Last sign-in",
    never: "never",
    none: "none",
    sign_out: "Sign out",
    sign_out_everywhere: "Sign out everywhere",
    sessions_title: "Where you are signed in",
    session_this_browser: "this browser",
    session_unknown_device: "Unknown device",
    session_started: "Signed in",
    session_last_seen: "last active",
    session_end: "Sign out",
    cancelled_title: "Sign-in cancelled",
    cancelled_lead: "You cancelled at the provider, so nothing happened. You can try again whenever you like.",
    try_again: "Try again",
    error_title: "This did not work",
    request_id: "Request id",
    err_bad_request: "The request was incomplete or malformed.",
    err_state: "This sign-in link is invalid, expired or was already used, or it was started in another browser. Please start again.",
    err_csrf: "This form has expired. Please go back, reload the page and try again.",
    err_signup_expired: "Your sign-up took too long. Please sign in again.",
    err_upstream: "The sign-in provider did not answer properly. Nothing was changed; please try again in a moment.",
    err_unavailable: "munji cannot reach its storage right now. Nothing was changed; please try again shortly.",
    err_closed: "Registration is closed: only existing accounts can sign in.",
    err_identity_already_linked: "That account is already linked to another munji account, so it was not linked to yours.",
    err_last_identity: "This is your only way to sign in, so it cannot be removed. Link another account first.",
    err_link_other_user: "This link was started by another account or in another session. Nothing was linked.",
    err_link_expired: "This link is invalid, expired or was already used. Start again from your account page.",
    link_another: "Link another account",
    gmail_title: "Gmail for sending mail",
    gmail_connect: "Connect a Gmail account",
    gmail_active: "active",
    gmail_needs_reauth: "needs to be connected again",
    gmail_no_send: "sending not allowed",
    gmail_equipped_to: "used by",
    gmail_equip: "Use for",
    gmail_unequip: "Stop using",
    gmail_disconnect: "Disconnect",
    gmail_target_label: "Target (e.g. a bot id)",
    err_gmail_scope_missing: "This Gmail connection may not send mail (you did not allow it). Connect the account again and allow sending.",
    err_rate_limited: "Too many attempts from your network. Wait a minute and try again.",
    unlink: "Remove",
    err_authorize: "The application sent an authorization request munji cannot answer (unknown application, unregistered return address, or a malformed request). You were not sent back to it.",
    err_legacy_ambiguous: "More than one existing account uses this e-mail address, so munji cannot tell which one is yours. Nothing was changed; please contact the operator.",
    err_not_found: "This page does not exist.",
    err_internal: "Something went wrong on our side. Please try again.",
    skip_to_content: "Skip to content",
    end_session_title: "Sign out of munji?",
    end_session_lead: "An app asked munji to sign you out of this browser. Sign out only if you meant to.",
    end_session_app: "Asked by",
    end_session_confirm: "Sign out",
    end_session_stay: "Stay signed in",
    signed_out_title: "You are signed out",
    signed_out_lead: "Your munji session in this browser has ended. You can close this window.",
    err_end_session: "This sign-out request is not valid (an unknown app, a return address it did not register, or a token that is not ours). Nothing was changed and you were not sent anywhere.",
    app_consent_title: "Allow this app to use your account?",
    app_consent_lead: "This app is not run by the operator of munji. It asks for:",
    app_consent_allow: "Allow",
    app_consent_deny: "Deny",
    app_consent_later: "You can remove the app at any time on your account page.",
    scope_openid: "Know that it is you (your account id)",
    scope_profile: "Your username and display name",
    scope_email: "Your e-mail address",
    scope_other: "A permission this app defines",
    apps_title: "Connected apps",
    apps_none: "No app holds access to your account.",
    app_third_party: "Third-party",
    app_authorized: "Allowed",
    app_last_used: "Last used",
    app_remove: "Remove",
};

pub static KO: Messages = Messages {
    lang: "ko",
    date_format: "%Y. %-m. %-d. %H:%M %Z",
    sign_in_title: "로그인",
    sign_in_lead: "사용할 계정을 선택해 주세요.",
    sign_in_google: "Google 계정으로 로그인",
    sign_in_naver: "네이버 로그인",
    sign_in_kakao: "카카오 로그인",
    brand_google: "Google",
    brand_naver: "네이버",
    brand_kakao: "카카오",
    link_before: "",
    link_after: " 계정 연결",
    back_to_account: "내 계정으로 돌아가기",
    no_providers: "아직 로그인 방법이 설정되지 않았습니다. 운영자에게 문의해 주세요.",
    signup_title: "계정 만들기",
    signup_lead: "처음 로그인하셨네요. 다른 사람에게 보일 이름을 정해 주세요.",
    username_label: "사용자 이름",
    username_help: "3~32자의 영문 소문자, 숫자, 마침표(.), 밑줄(_), 하이픈(-)을 쓸 수 있습니다.",
    display_name_label: "표시 이름",
    display_name_help: "다른 사람에게 보이는 이름입니다. 64자까지 쓸 수 있습니다.",
    signup_submit: "계정 만들기",
    signup_errors_title: "아래 내용을 확인해 주세요.",
    err_username_short: "사용자 이름이 너무 짧습니다. 3자 이상으로 입력해 주세요.",
    err_username_long: "사용자 이름이 너무 깁니다. 32자 이하로 입력해 주세요.",
    err_username_chars: "사용자 이름에는 영문 소문자, 숫자, 마침표(.), 밑줄(_), 하이픈(-)만 쓸 수 있습니다.",
    err_username_taken: "이미 누군가 쓰고 있는 사용자 이름입니다. 다른 이름을 입력해 주세요.",
    err_display_name: "표시 이름을 1~64자로 입력해 주세요.",
    consent_title: "이메일 주소 제공에 동의해 주세요",
    consent_lead: "이메일 주소를 제공하지 않으셔서 로그인할 수 없었습니다. munji 계정에는 이메일 주소가 필요합니다. 아직 계정은 만들어지지 않았습니다.",
    consent_before: "",
    consent_after: "에서 이메일 제공 동의하기",
    back_to_sign_in: "로그인 화면으로 돌아가기",
    account_title: "내 계정",
    username: "사용자 이름",
    display_name: "표시 이름",
    email: "이메일",
    member_since: "가입일",
    linked_accounts: "연결된 계정",
    provider: "서비스",
    linked_at: "연결일",
    last_login: "마지막 로그인",
    never: "기록 없음",
    none: "없음",
    sign_out: "로그아웃",
    sign_out_everywhere: "모든 기기에서 로그아웃",
    sessions_title: "로그인된 기기",
    session_this_browser: "지금 사용 중인 브라우저",
    session_unknown_device: "알 수 없는 기기",
    session_started: "로그인",
    session_last_seen: "최근 사용",
    session_end: "로그아웃",
    cancelled_title: "로그인이 취소되었습니다",
    cancelled_lead: "로그인을 취소하셨습니다. 바뀐 것은 없으며, 언제든 다시 로그인할 수 있습니다.",
    try_again: "다시 시도",
    error_title: "요청을 처리하지 못했습니다",
    request_id: "요청 ID",
    err_bad_request: "요청이 올바르지 않습니다. 처음부터 다시 시도해 주세요.",
    err_state: "로그인 링크가 만료되었거나 이미 사용되었습니다. 다른 브라우저에서 시작한 로그인일 수도 있습니다. 처음부터 다시 시도해 주세요.",
    err_csrf: "페이지를 연 지 오래되어 요청을 처리하지 못했습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
    err_signup_expired: "가입 시간이 지났습니다. 다시 로그인해 주세요.",
    err_upstream: "로그인 서비스에서 올바른 응답을 받지 못했습니다. 바뀐 것은 없으니 잠시 후 다시 시도해 주세요.",
    err_unavailable: "지금은 munji가 저장소에 연결할 수 없습니다. 바뀐 것은 없으니 잠시 후 다시 시도해 주세요.",
    err_closed: "지금은 새로 가입할 수 없습니다. 이미 계정이 있는 분만 로그인할 수 있습니다.",
    err_identity_already_linked: "그 계정은 이미 다른 munji 계정에 연결되어 있어서 연결하지 않았습니다.",
    err_last_identity: "로그인할 수 있는 계정이 이것 하나뿐이라 연결을 해제할 수 없습니다. 다른 계정을 먼저 연결해 주세요.",
    err_link_other_user: "다른 계정이나 다른 세션에서 시작한 연결이어서 연결하지 않았습니다.",
    err_link_expired: "연결 링크가 만료되었거나 이미 사용되었습니다. 내 계정 페이지에서 다시 시작해 주세요.",
    link_another: "다른 계정 연결",
    gmail_title: "메일 발송에 쓰는 Gmail",
    gmail_connect: "Gmail 계정 연결",
    gmail_active: "사용 가능",
    gmail_needs_reauth: "다시 연결해야 함",
    gmail_no_send: "발송 권한 없음",
    gmail_equipped_to: "사용처",
    gmail_equip: "사용처 지정",
    gmail_unequip: "사용 중지",
    gmail_disconnect: "연결 해제",
    gmail_target_label: "사용처 (예: 봇 ID)",
    err_gmail_scope_missing: "이 Gmail 연결에는 메일 발송 권한이 없습니다. 계정을 다시 연결하고 메일 발송을 허용해 주세요.",
    err_rate_limited: "요청이 너무 많습니다. 1분쯤 뒤에 다시 시도해 주세요.",
    unlink: "연결 해제",
    err_authorize: "앱이 보낸 로그인 요청을 처리할 수 없습니다. 등록되지 않은 앱이거나, 등록되지 않은 주소로 돌아가려 하거나, 요청 형식이 잘못되었습니다. 그래서 앱으로 돌아가지 않았습니다.",
    err_legacy_ambiguous: "이 이메일 주소를 쓰는 기존 계정이 여러 개라 어느 계정인지 알 수 없습니다. 바뀐 것은 없습니다. 운영자에게 문의해 주세요.",
    err_not_found: "페이지를 찾을 수 없습니다.",
    err_internal: "일시적인 문제가 생겼습니다. 잠시 후 다시 시도해 주세요.",
    skip_to_content: "본문으로 건너뛰기",
    end_session_title: "munji에서 로그아웃할까요?",
    end_session_lead: "앱이 이 브라우저의 munji 로그아웃을 요청했습니다. 직접 로그아웃하려던 경우에만 진행해 주세요.",
    end_session_app: "요청한 앱",
    end_session_confirm: "로그아웃",
    end_session_stay: "로그인 유지",
    signed_out_title: "로그아웃되었습니다",
    signed_out_lead: "이 브라우저에서 munji 로그아웃이 끝났습니다. 이제 창을 닫아도 됩니다.",
    err_end_session: "로그아웃 요청이 올바르지 않습니다. 등록되지 않은 앱이거나, 등록되지 않은 주소로 돌아가려 하거나, munji가 발급하지 않은 토큰입니다. 바뀐 것은 없으며 다른 곳으로 이동하지 않았습니다.",
    app_consent_title: "이 앱이 내 계정 정보를 쓰도록 허용할까요?",
    app_consent_lead: "munji 운영자가 만든 앱이 아닙니다. 이 앱이 요청하는 정보:",
    app_consent_allow: "허용",
    app_consent_deny: "거부",
    app_consent_later: "허용한 뒤에도 내 계정 페이지에서 언제든지 앱 연결을 해제할 수 있습니다.",
    scope_openid: "본인 확인 (계정 ID)",
    scope_profile: "사용자 이름과 표시 이름",
    scope_email: "이메일 주소",
    scope_other: "앱이 정한 권한",
    apps_title: "연결된 앱",
    apps_none: "계정에 접근할 수 있는 앱이 없습니다.",
    app_third_party: "외부 앱",
    app_authorized: "허용일",
    app_last_used: "마지막 사용",
    app_remove: "연결 해제",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_supported_language() {
        assert_eq!(Lang::from_accept_language(None), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("ko-KR,ko;q=0.9,en-US;q=0.8")), Lang::Ko);
        assert_eq!(Lang::from_accept_language(Some("en-US,en;q=0.9,ko;q=0.8")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("ja,ko;q=0.5")), Lang::Ko);
        assert_eq!(Lang::from_accept_language(Some("en;q=0.2, ko;q=0.7")), Lang::Ko);
        assert_eq!(Lang::from_accept_language(Some("ko;q=0, fr")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("garbage;;;,")), Lang::En);
    }

    #[test]
    fn ui_locales_picks_the_first_supported_tag() {
        assert_eq!(Lang::from_ui_locales("ko-KR en"), Some(Lang::Ko));
        assert_eq!(Lang::from_ui_locales("fr en-GB ko"), Some(Lang::En));
        assert_eq!(Lang::from_ui_locales("fr ja"), None);
    }
}
