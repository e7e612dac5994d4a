//! The dashboard without a browser: every page answers, sessions, CSRF, roles, tenancy, a
//! campaign of 100,000 recipients, and the vendored htmx's checksum.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Answer, TestGateway};
use serde_json::json;
use sha2::{Digest, Sha256};
use wagw_core::ids::{CampaignId, ChannelId};
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent, CampaignRecipient};
use wagw_core::phone::PhoneNumber;

/// A logged-in browser: the session cookie and the CSRF token its pages carry.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn login(gw: &TestGateway, tenant: &str, email: &str, password: &str) -> Browser {
    let form =
        serde_urlencoded::to_string([("tenant", tenant), ("email", email), ("password", password)])
            .expect("form");
    let answer = gw
        .send(
            Request::post("/ui/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .expect("request"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let set_cookie = answer.headers[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().expect("pair").to_owned();
    let mut browser = Browser {
        cookie,
        csrf: String::new(),
    };
    let page = get(gw, &browser, "/ui").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let start = page.text.find("\"x-csrf-token\": \"").expect("csrf header") + 17;
    browser.csrf = page.text[start..start + 40].to_owned();
    browser
}

async fn admin(gw: &TestGateway) -> Browser {
    let tenant = gw
        .gateway
        .seeded
        .as_ref()
        .expect("seeded")
        .tenant
        .to_string();
    login(
        gw,
        &tenant,
        gateway::sandbox::ADMIN_EMAIL,
        gateway::sandbox::ADMIN_PASSWORD,
    )
    .await
}

async fn get(gw: &TestGateway, browser: &Browser, path: &str) -> Answer {
    gw.send(
        Request::get(path)
            .header(header::COOKIE, &browser.cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

async fn post_form(
    gw: &TestGateway,
    browser: &Browser,
    path: &str,
    form: &[(&str, &str)],
    csrf: Option<&str>,
) -> Answer {
    let mut request = Request::post(path)
        .header(header::COOKIE, &browser.cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(token) = csrf {
        request = request.header("x-csrf-token", token);
    }
    gw.send(
        request
            .body(Body::from(serde_urlencoded::to_string(form).expect("form")))
            .expect("request"),
    )
    .await
}

async fn rules(gw: &TestGateway) -> usize {
    let tenant = gw.gateway.seeded.as_ref().expect("seeded").tenant;
    gw.gateway
        .state
        .store
        .list_rules(tenant)
        .await
        .expect("rules")
        .len()
}

/// A draft campaign of the sandbox tenant, made through the API.
async fn campaign(gw: &TestGateway) -> String {
    let created = gw
        .post(
            "/v1/campaigns",
            json!({
                "name": "Promo", "channel_id": gw.channel,
                "content": {"kind": "text", "body": "Halo"},
                "numbers": ["08123456789", "12"],
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    created.json["data"]["campaign"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_answers_an_admin_and_sends_strangers_to_the_login() {
    let gw = TestGateway::start(false).await;
    let browser = admin(&gw).await;
    let campaign = campaign(&gw).await;
    let flow = {
        let answer = gw
            .send(
                Request::post("/ui/flows")
                    .header(header::COOKIE, &browser.cookie)
                    .header("x-csrf-token", &browser.csrf)
                    .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XYZ")
                    .body(Body::from(
                        "--XYZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nMenu\r\n\
                         --XYZ\r\nContent-Disposition: form-data; name=\"document\"\r\n\r\n\
                         {\"root\": {\"type\": \"text\", \"content\": \"Halo\"}}\r\n--XYZ--\r\n",
                    ))
                    .expect("request"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
        answer.headers[header::LOCATION]
            .to_str()
            .expect("location")
            .to_owned()
    };
    let pages = [
        "/ui".to_owned(),
        "/ui/numbers".to_owned(),
        "/ui/campaigns".to_owned(),
        "/ui/campaigns/new".to_owned(),
        format!("/ui/campaigns/{campaign}"),
        format!("/ui/campaigns/{campaign}/progress"),
        format!("/ui/campaigns/{campaign}/report.csv"),
        "/ui/messages".to_owned(),
        "/ui/messages?direction=inbound&from=2026-01-01&to=2026-12-31&q=halo".to_owned(),
        "/ui/messages/export.csv".to_owned(),
        "/ui/conversations/628123456789".to_owned(),
        "/ui/templates".to_owned(),
        "/ui/auto-replies".to_owned(),
        "/ui/flows".to_owned(),
        flow,
        "/ui/schedules".to_owned(),
        "/ui/webhooks".to_owned(),
        "/ui/activity".to_owned(),
        "/ui/sandbox".to_owned(),
    ];
    for page in &pages {
        let answer = get(&gw, &browser, page).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}: {}", answer.text);
        let anonymous = gw
            .send(
                Request::get(page.as_str())
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(anonymous.headers[header::LOCATION], "/ui/login", "{page}");
    }
    // The campaign page shows the refused input with its reason.
    let page = get(&gw, &browser, &format!("/ui/campaigns/{campaign}")).await;
    assert!(page.text.contains("+62 812-3456-789"), "{}", page.text);
    assert!(page.text.contains("<td>12</td>"), "{}", page.text);
    // A bad cookie is no session either; the login page itself needs none.
    let forged = Browser {
        cookie: "wagw_session=eyJhbGciOiJIUzI1NiJ9.e30.x".into(),
        csrf: String::new(),
    };
    assert_eq!(get(&gw, &forged, "/ui").await.status, StatusCode::SEE_OTHER);
    let login_page = gw
        .send(
            Request::get("/ui/login")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(login_page.status, StatusCode::OK);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_on_the_login_page() {
    let gw = TestGateway::start(false).await;
    let tenant = gw
        .gateway
        .seeded
        .as_ref()
        .expect("seeded")
        .tenant
        .to_string();
    let form = serde_urlencoded::to_string([
        ("tenant", tenant.as_str()),
        ("email", gateway::sandbox::ADMIN_EMAIL),
        ("password", "wrong-password"),
    ])
    .expect("form");
    let answer = gw
        .send(
            Request::post("/ui/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .expect("request"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.headers.get(header::SET_COOKIE).is_none());
    assert!(
        answer.text.contains("wrong tenant, e-mail or password"),
        "{}",
        answer.text
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    let gw = TestGateway::start(false).await;
    let browser = admin(&gw).await;
    let form = [
        ("name", "Jam buka"),
        ("keywords", "jam, buka"),
        ("reply", "Kami buka 08.00-17.00 WIB"),
        ("channel_id", ""),
    ];
    for csrf in [None, Some("0000000000000000000000000000000000000000")] {
        let refused = post_form(&gw, &browser, "/ui/auto-replies", &form, csrf).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
        assert!(refused.text.contains("CSRF"), "{}", refused.text);
        assert_eq!(rules(&gw).await, 0);
    }
    // Logging out needs the token too.
    let logout = post_form(&gw, &browser, "/ui/logout", &[], None).await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);
    // With the token, the same form works and is in the activity log.
    let accepted = post_form(
        &gw,
        &browser,
        "/ui/auto-replies",
        &form,
        Some(&browser.csrf),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.text);
    assert_eq!(rules(&gw).await, 1);
    let activity = get(&gw, &browser, "/ui/activity").await;
    assert!(
        activity.text.contains("POST /ui/auto-replies"),
        "{}",
        activity.text
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_but_cannot_change_anything() {
    let gw = TestGateway::start(false).await;
    let created = gw
        .post(
            "/v1/users",
            json!({"email": "lihat@sandbox.local", "name": "Viewer", "role": "viewer", "password": "viewer-password"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let tenant = gw
        .gateway
        .seeded
        .as_ref()
        .expect("seeded")
        .tenant
        .to_string();
    let viewer = login(&gw, &tenant, "lihat@sandbox.local", "viewer-password").await;
    let campaign = campaign(&gw).await;
    let page = get(&gw, &viewer, &format!("/ui/campaigns/{campaign}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains("id=\"start\""), "no start button");
    let rules_page = get(&gw, &viewer, "/ui/auto-replies").await;
    assert!(!rules_page.text.contains("New rule"), "no creation form");
    for (path, form) in [
        (
            "/ui/auto-replies".to_owned(),
            vec![("name", "x"), ("keywords", "x"), ("reply", "x")],
        ),
        (format!("/ui/campaigns/{campaign}/start"), vec![]),
        (format!("/ui/campaigns/{campaign}/cancel"), vec![]),
    ] {
        let refused = post_form(&gw, &viewer, &path, &form, Some(&viewer.csrf)).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            refused.text
        );
    }
    assert_eq!(rules(&gw).await, 0);
    let still = gw.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(still.json["data"]["state"], "draft");
    // Admin pages stay closed to a viewer.
    assert_eq!(
        get(&gw, &viewer, "/ui/activity").await.status,
        StatusCode::FORBIDDEN
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_ids_answer_404() {
    let gw = TestGateway::start(false).await;
    let campaign = campaign(&gw).await;
    let (tenant_b, key_b) = gw.other_tenant("basic").await;
    let user = gw
        .call(
            "POST",
            "/v1/users",
            Some(&key_b),
            Some(json!({"email": "b@tenant.b", "name": "B", "role": "admin", "password": "b-password"})),
        )
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.text);
    let b = login(&gw, &tenant_b, "b@tenant.b", "b-password").await;
    for path in [
        format!("/ui/campaigns/{campaign}"),
        format!("/ui/campaigns/{campaign}/progress"),
        format!("/ui/campaigns/{campaign}/report.csv"),
        format!("/ui/flows/{}", uuid::Uuid::new_v4()),
    ] {
        let answer = get(&gw, &b, &path).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text
        );
    }
    let cancel = post_form(
        &gw,
        &b,
        &format!("/ui/campaigns/{campaign}/cancel"),
        &[],
        Some(&b.csrf),
    )
    .await;
    assert_eq!(cancel.status, StatusCode::NOT_FOUND);
    // B has no sandbox: its panel is not there.
    assert_eq!(
        get(&gw, &b, "/ui/sandbox").await.status,
        StatusCode::NOT_FOUND
    );
    let still = gw.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(still.json["data"]["state"], "draft");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_of_100000_recipients_renders_one_page() {
    let gw = TestGateway::start(false).await;
    let browser = admin(&gw).await;
    let store = &gw.gateway.state.store;
    let tenant = gw.gateway.seeded.as_ref().expect("seeded").tenant;
    let channel = ChannelId(gw.channel.parse().expect("channel"));
    let campaign = Campaign::new(
        tenant,
        channel,
        "Besar",
        CampaignContent::Text {
            body: "Halo".into(),
        },
        Audience::default(),
    );
    store.create_campaign(&campaign).await.expect("campaign");
    let id: CampaignId = campaign.id;
    for batch in 0..20u64 {
        let recipients: Vec<CampaignRecipient> = (0..5_000u64)
            .map(|i| {
                let n = 8_100_000_000 + batch * 5_000 + i;
                CampaignRecipient::new(
                    tenant,
                    id,
                    PhoneNumber::from_wa_id(&format!("62{n}")).expect("number"),
                    Default::default(),
                )
            })
            .collect();
        store
            .insert_recipients(tenant, id, &recipients)
            .await
            .expect("recipients");
    }
    let page = get(&gw, &browser, &format!("/ui/campaigns/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("id=\"total\">100000<"), "total shown");
    let table = &page.text[page.text.find("id=\"recipients\"").expect("table")..];
    let body = &table[..table.find("</table>").expect("end")];
    assert_eq!(body.matches("<tr>").count(), 1 + gateway::ui::PAGE_SIZE);
    let next = table
        .split("href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("next page link")
        .replace("&amp;", "&");
    let second = get(&gw, &browser, &next).await;
    assert_eq!(second.status, StatusCode::OK, "{next}");
    gw.stop().await;
}

#[test]
fn the_vendored_htmx_is_the_published_file() {
    let file = include_bytes!("../static/vendor/htmx/htmx.min.js");
    let digest: String = Sha256::digest(file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest, gateway::ui::assets::HTMX_SHA256);
    let vendor = include_str!("../static/vendor/htmx/VENDOR.md");
    assert!(vendor.contains(gateway::ui::assets::HTMX_SHA256));
    assert!(vendor.contains(gateway::ui::assets::HTMX_VERSION));
    assert!(include_str!("../static/vendor/htmx/LICENSE").contains("Zero-Clause BSD"));
    // Served from the binary, byte for byte.
    assert_eq!(gateway::ui::assets::HTMX_JS.as_bytes(), file);
}
