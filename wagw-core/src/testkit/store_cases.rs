//! Conformance cases for [`Store`] backends. Each case starts from an empty store.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use futures::StreamExt;
use futures::future::join_all;

use super::fixtures::{Fixture, phone};
// The send-outcome cases live in their own file; stamped from here with the others.
pub use super::message_cases::*;
// The inbound-side cases (issue 11) likewise.
pub use super::conversation_cases::*;
pub use super::outbox_cases::*;
use crate::content::MessageContent;
use crate::error::{Error, ErrorCode};
use crate::event::InboundMessage;
use crate::ids::*;
use crate::model::Secret;
use crate::model::activity::{ActivityEntry, Actor};
use crate::model::auto_reply::{AutoReplyRule, KeywordMatch};
use crate::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignRecipient, CampaignState, RecipientStatus,
};
use crate::model::contact::{Contact, ContactFilter, ContactList};
use crate::model::flow::{ConversationSession, Flow, FlowDocument, FlowMessage, FlowNode};
use crate::model::message::{MessageError, MessageRecord, MessageStatus, StatusUpdate};
use crate::model::schedule::{Recurrence, ScheduledMessage};
use crate::model::template::{Template, TemplateCategory, TemplateDraft, TemplateStatus};
use crate::model::tenant::{ApiKey, QuotaResource, Role, Scope, UsagePeriod, User};
use crate::model::webhook::{
    AttemptTiming, DeliveryOutcome, DeliveryState, EventKind, WebhookDelivery, WebhookSubscription,
};
use crate::store::{MessageQuery, Page, RecipientUpdate, Store, WamidUpdate};

fn assert_code<T: std::fmt::Debug>(result: Result<T, Error>, code: ErrorCode, what: &str) {
    match result {
        Err(e) => assert_eq!(e.code(), code, "{what}: wrong error {e}"),
        Ok(v) => panic!("{what}: expected {code}, got Ok({v:?})"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(Error::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Tenants can be created, read and updated; unknown ids are not found.
pub async fn tenant_roundtrip(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut tenant = store.get_tenant(fx.tenant.id).await.expect("get");
    assert_eq!(tenant, fx.tenant);
    tenant.name = "Toko Maju Jaya".into();
    tenant.timezone = chrono_tz::Asia::Makassar;
    store.update_tenant(&tenant).await.expect("update");
    assert_eq!(store.get_tenant(tenant.id).await.expect("get"), tenant);
    assert_not_found(store.get_tenant(TenantId::new()).await, "unknown tenant");
    assert_code(
        store.create_tenant(&fx.tenant).await,
        ErrorCode::Conflict,
        "duplicate tenant id",
    );
    let all = store.list_tenants(Page::first(10)).await.expect("list");
    assert_eq!(all.items.len(), 2);
}

fn user(tenant: TenantId, email: &str, role: Role) -> User {
    User {
        id: UserId::new(),
        tenant_id: tenant,
        email: email.into(),
        name: "Budi".into(),
        role,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        active: true,
        created_at: Utc::now(),
    }
}

/// E-mails are unique within a tenant, not across tenants; login lookup ignores case.
pub async fn users_have_unique_emails_per_tenant(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let budi = user(fx.tenant.id, "budi@example.co.id", Role::Admin);
    store.create_user(&budi).await.expect("create");
    assert_code(
        store
            .create_user(&user(fx.tenant.id, "budi@example.co.id", Role::Viewer))
            .await,
        ErrorCode::Conflict,
        "same e-mail in the same tenant",
    );
    store
        .create_user(&user(fx.other.id, "budi@example.co.id", Role::Viewer))
        .await
        .expect("same e-mail in another tenant is fine");
    let found = store
        .find_user_by_email(fx.tenant.id, "BUDI@example.co.id")
        .await
        .expect("find");
    assert_eq!(found.id, budi.id);
    assert_not_found(
        store.get_user(fx.other.id, budi.id).await,
        "cross-tenant get",
    );
    assert_not_found(
        store.delete_user(fx.other.id, budi.id).await,
        "cross-tenant delete",
    );
    let mut changed = budi.clone();
    changed.role = Role::Operator;
    store.update_user(&changed).await.expect("update");
    assert_eq!(
        store
            .get_user(fx.tenant.id, budi.id)
            .await
            .expect("get")
            .role,
        Role::Operator
    );
    let users = store
        .list_users(fx.tenant.id, Page::default())
        .await
        .expect("list");
    assert_eq!(users.items.len(), 1);
    store
        .delete_user(fx.tenant.id, budi.id)
        .await
        .expect("delete");
    assert_not_found(store.get_user(fx.tenant.id, budi.id).await, "deleted user");
}

/// API keys are found by the hash of their secret; revoked keys stay found but unusable.
pub async fn api_keys_resolve_by_hash_and_revoke(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let scopes = BTreeSet::from([Scope::Read, Scope::Send]);
    let (key, secret) = ApiKey::generate(fx.tenant.id, "crm", scopes, None);
    store.create_api_key(&key).await.expect("create");
    let found = store
        .find_api_key(&ApiKey::hash_secret(&secret))
        .await
        .expect("find by hash");
    assert_eq!(found, key);
    assert!(!secret.contains(&key.hash), "the secret is not the hash");
    assert_not_found(
        store.find_api_key(&ApiKey::hash_secret("wagw_guess")).await,
        "wrong secret",
    );
    assert_not_found(
        store.revoke_api_key(fx.other.id, key.id, Utc::now()).await,
        "cross-tenant revoke",
    );
    store
        .revoke_api_key(fx.tenant.id, key.id, Utc::now())
        .await
        .expect("revoke");
    let revoked = store.find_api_key(&key.hash).await.expect("still found");
    assert!(!revoked.is_usable(Utc::now()));
    let others = store
        .list_api_keys(fx.other.id, Page::default())
        .await
        .expect("list");
    assert!(others.items.is_empty());
}

/// A usage increment over the limit fails with QUOTA_EXCEEDED and adds nothing.
pub async fn usage_quota_refuses_excess_and_changes_nothing(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let period = UsagePeriod::month_of(Utc::now());
    let res = QuotaResource::MessagesPerMonth;
    assert_eq!(
        store.usage(fx.tenant.id, &period, res).await.expect("zero"),
        0
    );
    assert_eq!(
        store
            .add_usage(fx.tenant.id, &period, res, 990, Some(1_000))
            .await
            .expect("under"),
        990
    );
    assert_code(
        store
            .add_usage(fx.tenant.id, &period, res, 11, Some(1_000))
            .await,
        ErrorCode::QuotaExceeded,
        "over the limit",
    );
    assert_eq!(
        store.usage(fx.tenant.id, &period, res).await.expect("read"),
        990
    );
    assert_eq!(
        store
            .add_usage(fx.tenant.id, &period, res, 10, Some(1_000))
            .await
            .expect("exactly at"),
        1_000
    );
    assert_eq!(
        store.usage(fx.other.id, &period, res).await.expect("other"),
        0
    );
    let next = UsagePeriod::month_of(Utc::now() + TimeDelta::days(40));
    assert_eq!(
        store
            .usage(fx.tenant.id, &next, res)
            .await
            .expect("next month"),
        0
    );
}

/// Concurrent increments never push a counter past its limit.
pub async fn usage_quota_holds_under_concurrency(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let period = UsagePeriod::month_of(Utc::now());
    let res = QuotaResource::MessagesPerMonth;
    let attempts =
        join_all((0..50).map(|_| store.add_usage(fx.tenant.id, &period, res, 3, Some(100)))).await;
    let granted = attempts.iter().filter(|r| r.is_ok()).count();
    assert_eq!(granted, 33, "exactly floor(100 / 3) increments fit");
    for refused in attempts.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code(), ErrorCode::QuotaExceeded);
    }
    assert_eq!(
        store.usage(fx.tenant.id, &period, res).await.expect("read"),
        99
    );
}

/// Meta's phone-number id identifies one channel in the whole gateway.
pub async fn channel_phone_number_id_is_unique_across_tenants(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut copy = fx.channel.clone();
    copy.id = ChannelId::new();
    copy.tenant_id = fx.other.id;
    assert_code(
        store.create_channel(&copy).await,
        ErrorCode::Conflict,
        "same phone-number id in another tenant",
    );
    let found = store
        .find_channel_by_phone_number_id(&fx.channel.phone_number_id)
        .await
        .expect("route by phone-number id");
    assert_eq!(found.id, fx.channel.id);
    assert_eq!(found.tenant_id, fx.tenant.id);
    assert_not_found(
        store.find_channel_by_phone_number_id("000").await,
        "unknown phone-number id",
    );
    assert_eq!(store.count_channels(fx.tenant.id).await.expect("count"), 1);
}

/// Another tenant can neither see, change nor delete a channel.
pub async fn channels_are_isolated(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    assert_not_found(
        store.get_channel(fx.other.id, fx.channel.id).await,
        "cross-tenant get",
    );
    let mut hijack = fx.channel.clone();
    hijack.tenant_id = fx.other.id;
    hijack.name = "mine now".into();
    assert_not_found(store.update_channel(&hijack).await, "cross-tenant update");
    assert_not_found(
        store.delete_channel(fx.other.id, fx.channel.id).await,
        "cross-tenant delete",
    );
    assert_eq!(
        store
            .get_channel(fx.tenant.id, fx.channel.id)
            .await
            .expect("get"),
        fx.channel,
        "unchanged"
    );
    let listed = store
        .list_channels(fx.other.id, Page::default())
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, fx.other_channel.id);

    let mut renamed = fx.channel.clone();
    renamed.name = "CS Jakarta".into();
    store.update_channel(&renamed).await.expect("update");
    store
        .delete_channel(fx.tenant.id, fx.channel.id)
        .await
        .expect("delete");
    assert_not_found(
        store.get_channel(fx.tenant.id, fx.channel.id).await,
        "deleted",
    );
}

/// Upserting a known phone merges into the stored contact.
pub async fn contacts_upsert_merges_by_phone(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut first = Contact::new(fx.tenant.id, phone(1), Some("Budi".into()));
    first.tags.insert("active".into());
    first.fields.insert("node".into(), "ODP-001".into());
    let counts = store
        .upsert_contacts(fx.tenant.id, &[first.clone()])
        .await
        .expect("insert");
    assert_eq!((counts.inserted, counts.updated), (1, 0));

    let mut again = Contact::new(fx.tenant.id, phone(1), Some("Budi Santoso".into()));
    again.tags.insert("vip".into());
    again.fields.insert("plan".into(), "20 Mbps".into());
    let fresh = Contact::new(fx.tenant.id, phone(2), None);
    let counts = store
        .upsert_contacts(fx.tenant.id, &[again, fresh])
        .await
        .expect("merge");
    assert_eq!((counts.inserted, counts.updated), (1, 1));

    let merged = store
        .find_contact_by_phone(fx.tenant.id, &phone(1))
        .await
        .expect("find");
    assert_eq!(merged.id, first.id, "the stored id is kept");
    assert_eq!(merged.name.as_deref(), Some("Budi Santoso"));
    assert_eq!(
        merged.tags,
        BTreeSet::from(["active".to_owned(), "vip".to_owned()])
    );
    assert_eq!(
        merged.fields.get("node").map(String::as_str),
        Some("ODP-001")
    );
    assert_eq!(
        merged.fields.get("plan").map(String::as_str),
        Some("20 Mbps")
    );

    let mut replaced = merged.clone();
    replaced.tags.clear();
    store
        .update_contact(&replaced)
        .await
        .expect("update replaces");
    let read = store
        .get_contact(fx.tenant.id, merged.id)
        .await
        .expect("get");
    assert!(read.tags.is_empty());
}

/// Contacts of one tenant are invisible and untouchable to another.
pub async fn contacts_are_isolated(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let contact = Contact::new(fx.tenant.id, phone(1), Some("Siti".into()));
    store
        .upsert_contacts(fx.tenant.id, std::slice::from_ref(&contact))
        .await
        .expect("insert");
    // The same phone in another tenant is another contact.
    let theirs = Contact::new(fx.other.id, phone(1), Some("Someone else".into()));
    let counts = store
        .upsert_contacts(fx.other.id, &[theirs])
        .await
        .expect("insert");
    assert_eq!(counts.inserted, 1);

    assert_not_found(
        store.get_contact(fx.other.id, contact.id).await,
        "cross get",
    );
    assert_not_found(
        store.delete_contact(fx.other.id, contact.id).await,
        "cross delete",
    );
    let mut hijack = contact.clone();
    hijack.tenant_id = fx.other.id;
    assert_not_found(store.update_contact(&hijack).await, "cross update");
    let theirs_found = store
        .find_contact_by_phone(fx.other.id, &phone(1))
        .await
        .expect("their own");
    assert_eq!(theirs_found.name.as_deref(), Some("Someone else"));
    let mine = store
        .list_contacts(fx.tenant.id, &ContactFilter::default(), Page::default())
        .await
        .expect("list");
    assert_eq!(mine.items.len(), 1);
    assert_eq!(mine.items[0].name.as_deref(), Some("Siti"));
    // A tenant cannot put another tenant's contact in its list.
    let list = ContactList {
        id: ContactListId::new(),
        tenant_id: fx.other.id,
        name: "theirs".into(),
        description: None,
        created_at: Utc::now(),
    };
    store.create_list(&list).await.expect("list");
    assert_not_found(
        store.add_to_list(fx.other.id, list.id, &[contact.id]).await,
        "cross-tenant membership",
    );
}

/// Filters combine tags (all), custom fields (equal) and lists (any).
pub async fn contact_filter_selects_by_tags_fields_and_lists(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let list = ContactList {
        id: ContactListId::new(),
        tenant_id: fx.tenant.id,
        name: "pelanggan".into(),
        description: None,
        created_at: Utc::now(),
    };
    store.create_list(&list).await.expect("list");
    let mut contacts = Vec::new();
    for n in 0..30u64 {
        let mut c = Contact::new(fx.tenant.id, phone(n), Some(format!("User {n}")));
        c.fields.insert(
            "node".into(),
            if n % 3 == 0 { "ODP-001" } else { "ODP-002" }.into(),
        );
        if n % 2 == 0 {
            c.tags.insert("active".into());
        }
        c.opted_out = n == 6;
        contacts.push(c);
    }
    store
        .upsert_contacts(fx.tenant.id, &contacts)
        .await
        .expect("insert");
    let in_list: Vec<_> = contacts.iter().take(10).map(|c| c.id).collect();
    assert_eq!(
        store
            .add_to_list(fx.tenant.id, list.id, &in_list)
            .await
            .expect("add"),
        10
    );

    let active_on_node = ContactFilter {
        tags: BTreeSet::from(["active".into()]),
        fields: BTreeMap::from([("node".into(), "ODP-001".into())]),
        ..ContactFilter::default()
    };
    let page = store
        .list_contacts(fx.tenant.id, &active_on_node, Page::first(100))
        .await
        .expect("filter");
    let got: BTreeSet<_> = page.items.iter().map(|c| c.phone.clone()).collect();
    // n ≡ 0 mod 6, minus the opted-out n = 6.
    let want: BTreeSet<_> = [0u64, 12, 18, 24].into_iter().map(phone).collect();
    assert_eq!(got, want);

    let listed = ContactFilter {
        lists: BTreeSet::from([list.id]),
        include_opted_out: true,
        ..ContactFilter::default()
    };
    let page = store
        .list_contacts(fx.tenant.id, &listed, Page::first(100))
        .await
        .expect("by list");
    assert_eq!(page.items.len(), 10);
}

/// Streaming a large audience yields every matching contact exactly once.
pub async fn contact_stream_yields_every_match_once(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let contacts: Vec<_> = (0..2_500u64)
        .map(|n| {
            let mut c = Contact::new(fx.tenant.id, phone(n), None);
            if n % 5 != 0 {
                c.tags.insert("active".into());
            }
            c
        })
        .collect();
    for chunk in contacts.chunks(1_000) {
        store
            .upsert_contacts(fx.tenant.id, chunk)
            .await
            .expect("insert");
    }
    let filter = ContactFilter {
        tags: BTreeSet::from(["active".into()]),
        ..ContactFilter::default()
    };
    let mut seen = HashSet::new();
    let mut stream = store.stream_contacts(fx.tenant.id, filter);
    while let Some(contact) = stream.next().await {
        let contact = contact.expect("stream item");
        assert!(contact.tags.contains("active"));
        assert!(seen.insert(contact.id), "yielded twice");
    }
    assert_eq!(seen.len(), 2_000);
}

/// List membership counts changes and disappears with the list.
pub async fn contact_lists_track_membership(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let list = ContactList {
        id: ContactListId::new(),
        tenant_id: fx.tenant.id,
        name: "vip".into(),
        description: Some("Pelanggan VIP".into()),
        created_at: Utc::now(),
    };
    store.create_list(&list).await.expect("create");
    let mut dup = list.clone();
    dup.id = ContactListId::new();
    assert_code(
        store.create_list(&dup).await,
        ErrorCode::Conflict,
        "same name",
    );
    let contacts: Vec<_> = (0..5u64)
        .map(|n| Contact::new(fx.tenant.id, phone(n), None))
        .collect();
    store
        .upsert_contacts(fx.tenant.id, &contacts)
        .await
        .expect("insert");
    let ids: Vec<_> = contacts.iter().map(|c| c.id).collect();
    assert_eq!(
        store
            .add_to_list(fx.tenant.id, list.id, &ids[..3])
            .await
            .expect("add"),
        3
    );
    assert_eq!(
        store
            .add_to_list(fx.tenant.id, list.id, &ids)
            .await
            .expect("add"),
        2
    );
    assert_eq!(
        store
            .remove_from_list(fx.tenant.id, list.id, &ids[..2])
            .await
            .expect("remove"),
        2
    );
    let member = store.get_contact(fx.tenant.id, ids[4]).await.expect("get");
    assert!(member.lists.contains(&list.id));
    assert_not_found(store.get_list(fx.other.id, list.id).await, "cross get");
    assert_not_found(
        store.delete_list(fx.other.id, list.id).await,
        "cross delete",
    );
    store
        .delete_list(fx.tenant.id, list.id)
        .await
        .expect("delete");
    let member = store.get_contact(fx.tenant.id, ids[4]).await.expect("get");
    assert!(member.lists.is_empty(), "membership goes with the list");
    assert!(
        store
            .list_lists(fx.tenant.id, Page::default())
            .await
            .expect("lists")
            .items
            .is_empty()
    );
}

fn draft(name: &str) -> TemplateDraft {
    TemplateDraft {
        name: name.into(),
        language: "id".into(),
        category: TemplateCategory::Utility,
        components: vec![serde_json::json!({
            "type": "BODY",
            "text": "Halo {{1}}, tagihan Anda {{2}} jatuh tempo."
        })],
    }
}

/// (channel, name, language) is unique; status webhooks find templates by Meta's id.
pub async fn templates_are_unique_and_sync_status_by_remote_id(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut template = Template::new(fx.tenant.id, fx.channel.id, draft("tagihan"));
    template.remote_id = Some("594425479261596".into());
    template.status = TemplateStatus::Pending;
    store.create_template(&template).await.expect("create");
    let dup = Template::new(fx.tenant.id, fx.channel.id, draft("tagihan"));
    assert_code(
        store.create_template(&dup).await,
        ErrorCode::Conflict,
        "duplicate",
    );
    let mut english = draft("tagihan");
    english.language = "en_US".into();
    store
        .create_template(&Template::new(fx.tenant.id, fx.channel.id, english))
        .await
        .expect("another language is another template");

    let approved = store
        .set_template_status(
            fx.tenant.id,
            "594425479261596",
            TemplateStatus::Approved,
            None,
        )
        .await
        .expect("approve");
    assert_eq!(approved.id, template.id);
    assert_eq!(approved.status, TemplateStatus::Approved);
    let found = store
        .find_template(fx.tenant.id, fx.channel.id, "tagihan", "id")
        .await
        .expect("find");
    assert_eq!(found.status, TemplateStatus::Approved);
    assert_code(
        store
            .find_template(fx.tenant.id, fx.channel.id, "nope", "id")
            .await,
        ErrorCode::TemplateNotFound,
        "unknown template",
    );
}

/// Another tenant can neither read nor change a template, even by Meta's id.
pub async fn templates_are_isolated(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut template = Template::new(fx.tenant.id, fx.channel.id, draft("promo"));
    template.remote_id = Some("111".into());
    store.create_template(&template).await.expect("create");
    assert_not_found(
        store.get_template(fx.other.id, template.id).await,
        "cross get",
    );
    assert_not_found(
        store
            .set_template_status(fx.other.id, "111", TemplateStatus::Rejected, None)
            .await,
        "cross status",
    );
    assert_not_found(
        store.delete_template(fx.other.id, template.id).await,
        "cross delete",
    );
    assert!(
        store
            .list_templates(fx.other.id, Page::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let kept = store
        .get_template(fx.tenant.id, template.id)
        .await
        .expect("get");
    assert_eq!(kept.status, TemplateStatus::Draft);
    let mut edited = kept.clone();
    edited.draft.category = TemplateCategory::Marketing;
    store.update_template(&edited).await.expect("update");
    store
        .delete_template(fx.tenant.id, template.id)
        .await
        .expect("delete");
}

/// The same idempotency key in one tenant yields the stored message, not a second one.
pub async fn message_idempotency_key_deduplicates_per_tenant(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let first = fx
        .message(1, "Pesanan #123 dikirim")
        .with_idempotency_key("order-123");
    let inserted = store.insert_message(&first).await.expect("insert");
    assert!(inserted.created);
    assert_eq!(inserted.id, first.id);

    let retry = fx
        .message(1, "Pesanan #123 dikirim")
        .with_idempotency_key("order-123");
    let again = store.insert_message(&retry).await.expect("retry");
    assert!(!again.created);
    assert_eq!(again.id, first.id);
    assert_not_found(
        store.get_message(fx.tenant.id, retry.id).await,
        "no second record",
    );

    let theirs = fx.other_message(1, "x").with_idempotency_key("order-123");
    assert!(
        store
            .insert_message(&theirs)
            .await
            .expect("other tenant")
            .created
    );
}

/// Bulk inserts honour idempotency keys within the batch and against stored messages.
pub async fn message_bulk_insert_deduplicates_within_and_across_batches(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let stored = fx.message(0, "a").with_idempotency_key("k0");
    store.insert_message(&stored).await.expect("insert");
    let batch: Vec<_> = (0..500u64)
        .map(|n| {
            fx.message(n, "blast")
                .with_idempotency_key(format!("k{}", n % 250))
        })
        .collect();
    let results = store.insert_messages(&batch).await.expect("bulk");
    assert_eq!(results.len(), 500);
    assert_eq!(results.iter().filter(|r| r.created).count(), 249);
    assert_eq!(results[0].id, stored.id);
    assert_eq!(results[250].id, results[0].id, "k0 repeats the stored id");
    assert_eq!(results[251].id, results[1].id, "within-batch duplicate");
    let plain: Vec<_> = (0..100u64).map(|n| fx.message(n, "no key")).collect();
    let results = store
        .insert_messages(&plain)
        .await
        .expect("bulk without keys");
    assert!(results.iter().all(|r| r.created));
}

/// Redelivered and out-of-order status updates never move a message backwards.
pub async fn message_status_never_moves_backwards(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let message = fx.message(1, "Halo");
    store.insert_message(&message).await.expect("insert");
    let now = Utc::now();
    let sent = store
        .update_status(
            fx.tenant.id,
            message.id,
            &StatusUpdate::sent("wamid.A1", now),
        )
        .await
        .expect("sent");
    assert!(sent.moved());
    for status in [
        MessageStatus::Read,
        MessageStatus::Delivered,
        MessageStatus::Sent,
        MessageStatus::Read,
        MessageStatus::Queued,
    ] {
        store
            .update_status(fx.tenant.id, message.id, &StatusUpdate::new(status, now))
            .await
            .expect("update");
    }
    let failed = store
        .update_status(
            fx.tenant.id,
            message.id,
            &StatusUpdate::failed(
                MessageError {
                    code: Some(131026),
                    reason: "undeliverable".into(),
                },
                now,
            ),
        )
        .await
        .expect("late failure");
    assert!(!failed.moved(), "a read message cannot fail");
    let read = store
        .get_message(fx.tenant.id, message.id)
        .await
        .expect("get");
    assert_eq!(read.status, MessageStatus::Read);
    assert_eq!(read.wamid.as_deref(), Some("wamid.A1"));
    assert!(read.error.is_none());

    let other = fx.message(2, "x");
    store.insert_message(&other).await.expect("insert");
    let error = MessageError {
        code: Some(131047),
        reason: "outside the 24-hour window, send a template".into(),
    };
    store
        .update_status(
            fx.tenant.id,
            other.id,
            &StatusUpdate::failed(error.clone(), now),
        )
        .await
        .expect("fail");
    let change = store
        .update_status(
            fx.tenant.id,
            other.id,
            &StatusUpdate::new(MessageStatus::Delivered, now),
        )
        .await
        .expect("after failure");
    assert!(!change.moved(), "failed is terminal");
    assert_eq!(change.to, MessageStatus::Failed);
    let failed = store
        .get_message(fx.tenant.id, other.id)
        .await
        .expect("get");
    assert_eq!(failed.error, Some(error));
}

/// Status webhooks apply by wamid in bulk; unknown wamids are reported, not errors.
pub async fn message_status_by_wamid_applies_in_bulk(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let now = Utc::now();
    let mut ids = Vec::new();
    let recipient = RecipientId::new();
    for n in 0..20u64 {
        let mut m = fx.message(n, "x");
        // Message 7 belongs to a campaign recipient; the change names it.
        m.recipient_id = (n == 7).then_some(recipient);
        store.insert_message(&m).await.expect("insert");
        store
            .update_status(
                fx.tenant.id,
                m.id,
                &StatusUpdate::sent(format!("wamid.{n}"), now),
            )
            .await
            .expect("sent");
        ids.push(m.id);
    }
    let mut updates: Vec<_> = (0..20u64)
        .map(|n| WamidUpdate {
            wamid: format!("wamid.{n}"),
            update: StatusUpdate::new(MessageStatus::Delivered, now),
        })
        .collect();
    updates.push(WamidUpdate {
        wamid: "wamid.unknown".into(),
        update: StatusUpdate::new(MessageStatus::Read, now),
    });
    updates.push(WamidUpdate {
        wamid: "wamid.3".into(),
        update: StatusUpdate::new(MessageStatus::Read, now),
    });
    let results = store
        .update_statuses_by_wamid(fx.tenant.id, &updates)
        .await
        .expect("bulk");
    assert_eq!(results.len(), 22);
    assert!(results[..20].iter().all(|r| r.is_some_and(|c| c.moved())));
    assert!(results[20].is_none());
    assert_eq!(results[7].and_then(|c| c.recipient_id), Some(recipient));
    assert_eq!(results[8].and_then(|c| c.recipient_id), None);
    assert_eq!(results[21].and_then(|c| c.recipient_id), None);
    assert_eq!(results[21].map(|c| c.to), Some(MessageStatus::Read));
    let found = store
        .find_message_by_wamid(fx.tenant.id, "wamid.3")
        .await
        .expect("find");
    assert_eq!(found.id, ids[3]);
    assert_eq!(found.status, MessageStatus::Read);
    // Another tenant's webhook cannot touch these messages.
    let foreign = store
        .update_statuses_by_wamid(fx.other.id, &updates[..1])
        .await
        .expect("foreign");
    assert_eq!(foreign, vec![None]);
}

/// Many concurrent updates in any order end at the furthest status.
pub async fn message_status_converges_under_concurrent_updates(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let now = Utc::now();
    let messages: Vec<_> = (0..30u64).map(|n| fx.message(n, "x")).collect();
    store.insert_messages(&messages).await.expect("insert");
    let order = [
        MessageStatus::Read,
        MessageStatus::Sending,
        MessageStatus::Delivered,
        MessageStatus::Sent,
        MessageStatus::Read,
        MessageStatus::Delivered,
    ];
    let updates: Vec<_> = messages
        .iter()
        .flat_map(|m| {
            order
                .iter()
                .map(move |s| (m.id, StatusUpdate::new(*s, now)))
        })
        .collect();
    let updates = updates
        .iter()
        .map(|(id, update)| store.update_status(fx.tenant.id, *id, update));
    for result in join_all(updates).await {
        result.expect("update");
    }
    for m in &messages {
        let stored = store.get_message(fx.tenant.id, m.id).await.expect("get");
        assert_eq!(stored.status, MessageStatus::Read);
    }
}

/// An attempt moves queued to sending and counts; terminal messages come back unchanged.
pub async fn message_attempts_are_recorded(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let m = fx.message(1, "x");
    store.insert_message(&m).await.expect("insert");
    let first = store
        .record_attempt(fx.tenant.id, m.id)
        .await
        .expect("attempt");
    assert_eq!((first.status, first.attempts), (MessageStatus::Sending, 1));
    let second = store
        .record_attempt(fx.tenant.id, m.id)
        .await
        .expect("retry");
    assert_eq!(
        (second.status, second.attempts),
        (MessageStatus::Sending, 2)
    );
    store
        .mark_ambiguous(fx.tenant.id, m.id)
        .await
        .expect("ambiguous");
    store
        .update_status(
            fx.tenant.id,
            m.id,
            &StatusUpdate::sent("wamid.X", Utc::now()),
        )
        .await
        .expect("sent");
    let after = store
        .record_attempt(fx.tenant.id, m.id)
        .await
        .expect("after sent");
    assert_eq!((after.status, after.attempts), (MessageStatus::Sent, 2));
    assert!(after.ambiguous);
    assert_not_found(
        store.record_attempt(fx.other.id, m.id).await,
        "cross attempt",
    );
}

/// A `sending` message goes back to `queued` only at the attempt named; attempts stay
/// counted, and a later attempt, an outcome or another tenant changes nothing.
pub async fn a_refused_attempt_is_queued_again(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let m = fx.message(1, "x");
    store.insert_message(&m).await.expect("insert");
    let t = fx.tenant.id;
    assert!(
        !store.requeue_message(t, m.id, 0).await.expect("queued"),
        "a message never attempted is already queued"
    );
    store.record_attempt(t, m.id).await.expect("attempt 1");
    assert!(
        !store
            .requeue_message(t, m.id, 2)
            .await
            .expect("wrong attempt")
    );
    assert_eq!(
        store.get_message(t, m.id).await.expect("get").status,
        MessageStatus::Sending
    );
    assert_not_found(
        store.requeue_message(fx.other.id, m.id, 1).await,
        "cross requeue",
    );
    assert!(store.requeue_message(t, m.id, 1).await.expect("requeue"));
    let queued = store.get_message(t, m.id).await.expect("get");
    assert_eq!((queued.status, queued.attempts), (MessageStatus::Queued, 1));
    let again = store.record_attempt(t, m.id).await.expect("attempt 2");
    assert_eq!((again.status, again.attempts), (MessageStatus::Sending, 2));
    store
        .update_status(t, m.id, &StatusUpdate::sent("wamid.Q", Utc::now()))
        .await
        .expect("sent");
    assert!(!store.requeue_message(t, m.id, 2).await.expect("after sent"));
    assert_eq!(
        store.get_message(t, m.id).await.expect("get").status,
        MessageStatus::Sent
    );
    assert_not_found(
        store.requeue_message(t, MessageId::new(), 1).await,
        "unknown message",
    );
}

/// Another tenant cannot read, find or update a message.
pub async fn messages_are_isolated(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let m = fx.message(1, "rahasia");
    store.insert_message(&m).await.expect("insert");
    store
        .update_status(
            fx.tenant.id,
            m.id,
            &StatusUpdate::sent("wamid.S", Utc::now()),
        )
        .await
        .expect("sent");
    assert_not_found(store.get_message(fx.other.id, m.id).await, "cross get");
    assert_not_found(
        store.find_message_by_wamid(fx.other.id, "wamid.S").await,
        "cross wamid",
    );
    assert_not_found(
        store
            .update_status(
                fx.other.id,
                m.id,
                &StatusUpdate::new(MessageStatus::Read, Utc::now()),
            )
            .await,
        "cross update",
    );
    assert_not_found(
        store.mark_ambiguous(fx.other.id, m.id).await,
        "cross ambiguous",
    );
    let theirs = store
        .list_messages(fx.other.id, &MessageQuery::default(), Page::default())
        .await
        .expect("list");
    assert!(theirs.items.is_empty());
    let status = store
        .get_message(fx.tenant.id, m.id)
        .await
        .expect("get")
        .status;
    assert_eq!(status, MessageStatus::Sent);
}

/// Paging a listing visits every item once, oldest first, with filters applied.
pub async fn messages_page_without_gaps_or_repeats(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let messages: Vec<_> = (0..250u64).map(|n| fx.message(n % 7, "x")).collect();
    store.insert_messages(&messages).await.expect("insert");
    let mut page = Page::first(100);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let result = store
            .list_messages(fx.tenant.id, &MessageQuery::default(), page)
            .await
            .expect("page");
        pages += 1;
        seen.extend(result.items.iter().map(|m| m.id));
        match result.next {
            Some(cursor) => page = Page::after(100, cursor),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<_> = messages.iter().map(|m| m.id).collect();
    assert_eq!(seen, expected);

    let query = MessageQuery {
        contact: Some(phone(3)),
        ..MessageQuery::default()
    };
    let filtered = store
        .list_messages(fx.tenant.id, &query, Page::first(1_000))
        .await
        .expect("filter");
    assert_eq!(filtered.items.len(), 36);
    assert!(filtered.next.is_none());
}

fn inbound(fx: &Fixture, from: u64, wamid: &str, at: chrono::DateTime<Utc>) -> MessageRecord {
    let json = serde_json::json!({
        "from": phone(from).as_str(),
        "id": wamid,
        "timestamp": at.timestamp().to_string(),
        "type": "text",
        "text": { "body": "Halo" }
    });
    let message: InboundMessage = serde_json::from_value(json).expect("inbound text");
    let mut record = MessageRecord::inbound(fx.tenant.id, fx.channel.id, phone(from), message);
    record.created_at = at;
    record
}

/// The last inbound message per (channel, user) opens the 24-hour window; redelivered
/// inbound messages are stored once.
pub async fn last_inbound_tracks_the_customer_window(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    assert_eq!(
        store
            .last_inbound_at(fx.tenant.id, fx.channel.id, &phone(1))
            .await
            .expect("none"),
        None
    );
    let earlier = Utc::now() - TimeDelta::hours(30);
    let later = Utc::now() - TimeDelta::hours(2);
    let first = inbound(&fx, 1, "wamid.IN1", earlier);
    assert!(store.insert_message(&first).await.expect("in").created);
    let redelivered = inbound(&fx, 1, "wamid.IN1", earlier);
    assert!(
        !store
            .insert_message(&redelivered)
            .await
            .expect("again")
            .created
    );
    store
        .insert_message(&inbound(&fx, 1, "wamid.IN2", later))
        .await
        .expect("in");
    store
        .insert_message(&fx.message(1, "outbound does not count"))
        .await
        .expect("out");
    let last = store
        .last_inbound_at(fx.tenant.id, fx.channel.id, &phone(1))
        .await
        .expect("last")
        .expect("some");
    assert!((last - later).num_seconds().abs() <= 1, "{last} vs {later}");
    assert_eq!(
        store
            .last_inbound_at(fx.other.id, fx.channel.id, &phone(1))
            .await
            .expect("other tenant"),
        None
    );
}

fn campaign(fx: &Fixture) -> Campaign {
    Campaign::new(
        fx.tenant.id,
        fx.channel.id,
        "Promo Desember",
        CampaignContent::Text {
            body: "Halo {nama}, ada promo!".into(),
        },
        Audience::default(),
    )
}

fn recipients(
    fx: &Fixture,
    campaign: CampaignId,
    range: std::ops::Range<u64>,
) -> Vec<CampaignRecipient> {
    range
        .map(|n| {
            let vars = BTreeMap::from([("nama".to_owned(), format!("Pelanggan {n}"))]);
            CampaignRecipient::new(fx.tenant.id, campaign, phone(n), vars)
        })
        .collect()
}

/// A campaign update with a stale version is a conflict and changes nothing.
pub async fn campaign_update_checks_version(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut c = campaign(&fx);
    store.create_campaign(&c).await.expect("create");
    let stale = c.clone();
    c.transition(CampaignState::Running, "start")
        .expect("start");
    c.version = store.update_campaign(&c).await.expect("update");
    assert_eq!(c.version, 1);
    let mut racing = stale;
    racing
        .transition(CampaignState::Cancelled, "cancel")
        .expect("cancel");
    assert_code(
        store.update_campaign(&racing).await,
        ErrorCode::Conflict,
        "stale version",
    );
    let stored = store.get_campaign(fx.tenant.id, c.id).await.expect("get");
    assert_eq!(stored.state, CampaignState::Running);
    assert_eq!(stored.version, 1);
}

/// Deleting a running campaign is refused; a finished one goes with its recipients.
pub async fn running_campaign_cannot_be_deleted(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut c = campaign(&fx);
    store.create_campaign(&c).await.expect("create");
    store
        .insert_recipients(fx.tenant.id, c.id, &recipients(&fx, c.id, 0..10))
        .await
        .expect("recipients");
    c.transition(CampaignState::Running, "start")
        .expect("start");
    c.version = store.update_campaign(&c).await.expect("run");
    assert_code(
        store.delete_campaign(fx.tenant.id, c.id).await,
        ErrorCode::CampaignInProgress,
        "delete running",
    );
    c.transition(CampaignState::Cancelled, "cancel")
        .expect("cancel");
    store.update_campaign(&c).await.expect("cancel");
    store
        .delete_campaign(fx.tenant.id, c.id)
        .await
        .expect("delete");
    assert_not_found(store.get_campaign(fx.tenant.id, c.id).await, "deleted");
    let left = store
        .list_recipients(fx.tenant.id, c.id, None, Page::default())
        .await
        .map(|p| p.items.len())
        .unwrap_or(0);
    assert_eq!(left, 0);
}

/// 100,000 recipients insert in bulk; repeated phones are skipped.
pub async fn campaign_recipients_bulk_insert_100k(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let c = campaign(&fx);
    store.create_campaign(&c).await.expect("create");
    let mut added = 0;
    for start in (0..100_000u64).step_by(10_000) {
        added += store
            .insert_recipients(
                fx.tenant.id,
                c.id,
                &recipients(&fx, c.id, start..start + 10_000),
            )
            .await
            .expect("bulk insert");
    }
    assert_eq!(added, 100_000);
    let again = store
        .insert_recipients(fx.tenant.id, c.id, &recipients(&fx, c.id, 99_990..100_010))
        .await
        .expect("overlap");
    assert_eq!(again, 10, "only new phones are added");
    let counters = store
        .campaign_counters(fx.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!((counters.total, counters.pending), (100_010, 100_010));
}

/// Recipient statuses only move forward, and counters follow them.
pub async fn recipient_status_is_monotonic_and_counted(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let c = campaign(&fx);
    store.create_campaign(&c).await.expect("create");
    let list = recipients(&fx, c.id, 0..10);
    store
        .insert_recipients(fx.tenant.id, c.id, &list)
        .await
        .expect("insert");
    let update = |i: usize, status, reason: Option<&str>| RecipientUpdate {
        id: list[i].id,
        status,
        reason: reason.map(str::to_owned),
        message_id: None,
    };
    let moved = store
        .update_recipients(
            fx.tenant.id,
            &[
                update(0, RecipientStatus::Sent, None),
                update(1, RecipientStatus::Read, None),
                update(2, RecipientStatus::Failed, Some("131026 undeliverable")),
                update(3, RecipientStatus::Skipped, Some("invalid number")),
                update(4, RecipientStatus::Delivered, None),
            ],
        )
        .await
        .expect("first");
    assert_eq!(moved, 5);
    let moved = store
        .update_recipients(
            fx.tenant.id,
            &[
                update(1, RecipientStatus::Delivered, None),
                update(2, RecipientStatus::Sent, None),
                update(3, RecipientStatus::Sent, None),
                update(4, RecipientStatus::Read, None),
                update(0, RecipientStatus::Sent, None),
            ],
        )
        .await
        .expect("second");
    assert_eq!(moved, 1, "only delivered → read moves");
    let counters = store
        .campaign_counters(fx.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!(counters.total, 10);
    assert_eq!(counters.pending, 5);
    assert_eq!(counters.sent, 1);
    assert_eq!(counters.delivered, 0);
    assert_eq!(counters.read, 2);
    assert_eq!(counters.failed, 1);
    assert_eq!(counters.skipped, 1);
    let failed = store
        .get_recipient(fx.tenant.id, list[2].id)
        .await
        .expect("get");
    assert_eq!(failed.reason.as_deref(), Some("131026 undeliverable"));
}

/// Failed recipients, and only they, go back to pending for another round.
pub async fn failed_recipients_can_be_retried(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let c = campaign(&fx);
    store.create_campaign(&c).await.expect("create");
    let list = recipients(&fx, c.id, 0..5);
    store
        .insert_recipients(fx.tenant.id, c.id, &list)
        .await
        .expect("insert");
    let message = MessageId::new();
    let updates: Vec<_> = [
        (0, RecipientStatus::Failed),
        (1, RecipientStatus::Failed),
        (2, RecipientStatus::Sent),
        (3, RecipientStatus::Skipped),
    ]
    .into_iter()
    .map(|(i, status)| RecipientUpdate {
        id: list[i].id,
        status,
        reason: Some("131026".into()),
        message_id: Some(message),
    })
    .collect();
    store
        .update_recipients(fx.tenant.id, &updates)
        .await
        .expect("update");
    assert_not_found(
        store.retry_failed_recipients(fx.other.id, c.id).await,
        "cross-tenant retry",
    );
    assert_eq!(
        store
            .retry_failed_recipients(fx.tenant.id, c.id)
            .await
            .expect("retry"),
        2
    );
    let counters = store
        .campaign_counters(fx.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!(
        (
            counters.pending,
            counters.sent,
            counters.failed,
            counters.skipped
        ),
        (3, 1, 0, 1)
    );
    let retried = store
        .get_recipient(fx.tenant.id, list[0].id)
        .await
        .expect("get");
    assert_eq!(retried.status, RecipientStatus::Pending);
    assert_eq!((retried.reason, retried.message_id), (None, None));
    let sent = store
        .get_recipient(fx.tenant.id, list[2].id)
        .await
        .expect("get");
    assert_eq!(sent.message_id, Some(message), "others keep their message");
}

/// Recipients page by status without gaps.
pub async fn recipients_page_by_status(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let c = campaign(&fx);
    store.create_campaign(&c).await.expect("create");
    let list = recipients(&fx, c.id, 0..300);
    store
        .insert_recipients(fx.tenant.id, c.id, &list)
        .await
        .expect("insert");
    let failed: Vec<_> = list
        .iter()
        .step_by(3)
        .map(|r| RecipientUpdate {
            id: r.id,
            status: RecipientStatus::Failed,
            reason: Some("131049".into()),
            message_id: None,
        })
        .collect();
    store
        .update_recipients(fx.tenant.id, &failed)
        .await
        .expect("fail");
    let mut page = Page::first(40);
    let mut seen = HashSet::new();
    loop {
        let result = store
            .list_recipients(fx.tenant.id, c.id, Some(RecipientStatus::Failed), page)
            .await
            .expect("page");
        for r in &result.items {
            assert_eq!(r.status, RecipientStatus::Failed);
            assert!(seen.insert(r.id));
        }
        match result.next {
            Some(cursor) => page = Page::after(40, cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 100);
}

/// Another tenant can neither see nor touch a campaign or its recipients.
pub async fn campaigns_are_isolated(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let c = campaign(&fx);
    store.create_campaign(&c).await.expect("create");
    let list = recipients(&fx, c.id, 0..5);
    store
        .insert_recipients(fx.tenant.id, c.id, &list)
        .await
        .expect("insert");
    assert_not_found(store.get_campaign(fx.other.id, c.id).await, "cross get");
    let mut hijack = c.clone();
    hijack.tenant_id = fx.other.id;
    assert_not_found(store.update_campaign(&hijack).await, "cross update");
    assert_not_found(
        store.delete_campaign(fx.other.id, c.id).await,
        "cross delete",
    );
    assert_not_found(
        store
            .insert_recipients(fx.other.id, c.id, &recipients(&fx, c.id, 10..20))
            .await,
        "cross insert",
    );
    assert_not_found(
        store.get_recipient(fx.other.id, list[0].id).await,
        "cross recipient",
    );
    let moved = store
        .update_recipients(
            fx.other.id,
            &[RecipientUpdate {
                id: list[0].id,
                status: RecipientStatus::Failed,
                reason: None,
                message_id: None,
            }],
        )
        .await
        .unwrap_or(0);
    assert_eq!(moved, 0);
    assert_not_found(
        store.campaign_counters(fx.other.id, c.id).await,
        "cross counters",
    );
    assert!(
        store
            .list_campaigns(fx.other.id, Page::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let counters = store
        .campaign_counters(fx.tenant.id, c.id)
        .await
        .expect("counters");
    assert_eq!(
        (counters.total, counters.pending),
        (5, 5),
        "nothing changed"
    );
}

fn flow(tenant: TenantId) -> Flow {
    let mut nodes = BTreeMap::new();
    nodes.insert(
        "start".to_owned(),
        FlowNode::End {
            message: Some(FlowMessage::Text("Terima kasih".into())),
            outcome: None,
        },
    );
    let mut flow = Flow::new(
        tenant,
        "menu",
        FlowDocument {
            start: "start".into(),
            vars: BTreeMap::new(),
            settings: Default::default(),
            nodes,
        },
    );
    flow.triggers = vec!["menu".into()];
    flow
}

/// Flows are scoped by tenant.
pub async fn flows_are_isolated(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let f = flow(fx.tenant.id);
    store.create_flow(&f).await.expect("create");
    assert_eq!(store.get_flow(fx.tenant.id, f.id).await.expect("get"), f);
    assert_not_found(store.get_flow(fx.other.id, f.id).await, "cross get");
    let mut hijack = f.clone();
    hijack.tenant_id = fx.other.id;
    assert_not_found(store.update_flow(&hijack).await, "cross update");
    assert_not_found(store.delete_flow(fx.other.id, f.id).await, "cross delete");
    assert!(
        store
            .list_flows(fx.other.id, Page::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let mut renamed = f.clone();
    renamed.name = "menu utama".into();
    store.update_flow(&renamed).await.expect("update");
    store.delete_flow(fx.tenant.id, f.id).await.expect("delete");
}

/// Sessions are created once per user and saved only with the version read.
pub async fn session_save_checks_version(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut session = ConversationSession::new(fx.tenant.id, fx.channel.id, phone(1));
    session.version = store.save_session(&session).await.expect("create");
    assert_eq!(session.version, 1);
    let duplicate = ConversationSession::new(fx.tenant.id, fx.channel.id, phone(1));
    assert_code(
        store.save_session(&duplicate).await,
        ErrorCode::Conflict,
        "second session for the same user",
    );
    let stale = session.clone();
    session.node = Some("ask_name".into());
    session.version = store.save_session(&session).await.expect("save");
    assert_eq!(session.version, 2);
    assert_code(
        store.save_session(&stale).await,
        ErrorCode::Conflict,
        "stale save",
    );
    let loaded = store
        .get_session(fx.tenant.id, fx.channel.id, &phone(1))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(loaded, session);
    assert_eq!(
        store
            .get_session(fx.other.id, fx.channel.id, &phone(1))
            .await
            .expect("other"),
        None
    );
    assert_not_found(
        store.delete_session(fx.other.id, session.id).await,
        "cross delete",
    );
    store
        .delete_session(fx.tenant.id, session.id)
        .await
        .expect("delete");
}

/// A delivery attempt that started now and took 12 ms.
fn timing() -> AttemptTiming {
    AttemptTiming {
        started_at: Utc::now(),
        duration_ms: 12,
    }
}

fn rule(tenant: TenantId, name: &str, priority: i32) -> AutoReplyRule {
    let mut rule = AutoReplyRule::new(
        tenant,
        name,
        vec!["harga".into()],
        MessageContent::text("Harga mulai Rp 150.000"),
    );
    rule.matching = KeywordMatch::Word;
    rule.priority = priority;
    rule
}

/// Rules list highest priority first and only for their tenant.
pub async fn auto_reply_rules_sorted_and_isolated(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    for (name, priority) in [("low", 1), ("high", 10), ("mid", 5)] {
        store
            .create_rule(&rule(fx.tenant.id, name, priority), None)
            .await
            .expect("create");
    }
    let rules = store.list_rules(fx.tenant.id).await.expect("list");
    let names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["high", "mid", "low"]);
    assert!(
        store
            .list_rules(fx.other.id)
            .await
            .expect("other")
            .is_empty()
    );
    assert_not_found(store.get_rule(fx.other.id, rules[0].id).await, "cross get");
    assert_not_found(
        store.delete_rule(fx.other.id, rules[0].id).await,
        "cross delete",
    );
    let mut off = rules[0].clone();
    off.active = false;
    store.update_rule(&off).await.expect("update");
    assert!(
        !store
            .get_rule(fx.tenant.id, off.id)
            .await
            .expect("get")
            .active
    );
}

fn schedule(fx: &Fixture, at: chrono::DateTime<Utc>) -> ScheduledMessage {
    ScheduledMessage {
        id: ScheduleId::new(),
        tenant_id: fx.tenant.id,
        channel_id: fx.channel.id,
        to: phone(1),
        content: MessageContent::text("Pengingat pembayaran"),
        recurrence: Recurrence::Once { at },
        next_run_at: Some(at),
        last_run_at: None,
        last_error: None,
        active: true,
        version: 0,
        created_at: Utc::now(),
    }
}

/// Due schedules come back earliest first across tenants; updates check the version.
pub async fn schedules_come_due_and_check_version(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let now = Utc::now();
    let late = schedule(&fx, now - TimeDelta::minutes(1));
    let early = schedule(&fx, now - TimeDelta::minutes(5));
    let future = schedule(&fx, now + TimeDelta::hours(1));
    let mut theirs = schedule(&fx, now - TimeDelta::minutes(3));
    theirs.tenant_id = fx.other.id;
    theirs.channel_id = fx.other_channel.id;
    let mut inactive = schedule(&fx, now - TimeDelta::minutes(10));
    inactive.active = false;
    for s in [&late, &early, &future, &theirs, &inactive] {
        store.create_schedule(s).await.expect("create");
    }
    let due = store.due_schedules(now, 10).await.expect("due");
    let ids: Vec<_> = due.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![early.id, theirs.id, late.id]);
    assert_eq!(store.count_schedules(fx.tenant.id).await.expect("count"), 4);

    let mut fired = early.clone();
    fired.next_run_at = None;
    fired.last_run_at = Some(now);
    fired.version = store.update_schedule(&fired).await.expect("fire");
    assert_code(
        store.update_schedule(&early).await,
        ErrorCode::Conflict,
        "second scheduler fires the same run",
    );
    let due = store.due_schedules(now, 10).await.expect("due");
    assert_eq!(due.len(), 2);
    assert_not_found(store.get_schedule(fx.other.id, late.id).await, "cross get");
    assert_not_found(
        store.delete_schedule(fx.other.id, late.id).await,
        "cross delete",
    );
    let page = store
        .list_schedules(fx.tenant.id, Page::default())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 4);
}

fn subscription(tenant: TenantId) -> WebhookSubscription {
    WebhookSubscription {
        id: SubscriptionId::new(),
        tenant_id: tenant,
        url: "https://crm.example.co.id/hooks/wa".into(),
        secret: Secret::new("s3cret"),
        events: BTreeSet::from([EventKind::MessageStatus, EventKind::MessageReceived]),
        active: true,
        created_at: Utc::now(),
    }
}

/// Concurrent claims never hand out the same delivery; a claim hides it for the lease.
pub async fn webhook_claims_do_not_overlap(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let sub = subscription(fx.tenant.id);
    store.create_subscription(&sub).await.expect("subscribe");
    let deliveries: Vec<_> = (0..60)
        .map(|n| {
            WebhookDelivery::new(
                fx.tenant.id,
                sub.id,
                EventKind::MessageStatus,
                serde_json::json!({ "n": n }),
            )
        })
        .collect();
    store
        .enqueue_deliveries(&deliveries)
        .await
        .expect("enqueue");
    let now = Utc::now() + TimeDelta::seconds(1);
    let lease = Duration::from_secs(60);
    let claims = join_all((0..4).map(|_| store.claim_due_deliveries(now, 20, lease))).await;
    let mut seen = HashSet::new();
    for claim in claims {
        for d in claim.expect("claim") {
            assert!(seen.insert(d.id), "delivery {} claimed twice", d.id);
        }
    }
    assert_eq!(seen.len(), 60);
    assert!(
        store
            .claim_due_deliveries(now, 20, lease)
            .await
            .expect("hidden")
            .is_empty()
    );
    let after_lease = now + TimeDelta::seconds(61);
    assert_eq!(
        store
            .claim_due_deliveries(after_lease, 100, lease)
            .await
            .expect("again")
            .len(),
        60,
        "unsettled deliveries come back after the lease"
    );
}

/// Attempts retry, then die; dead and delivered deliveries can be replayed.
pub async fn webhook_attempts_retry_die_and_replay(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let sub = subscription(fx.tenant.id);
    store.create_subscription(&sub).await.expect("subscribe");
    let d = WebhookDelivery::new(
        fx.tenant.id,
        sub.id,
        EventKind::MessageReceived,
        serde_json::json!({}),
    );
    store
        .enqueue_deliveries(std::slice::from_ref(&d))
        .await
        .expect("enqueue");
    let retry_at = Utc::now() + TimeDelta::minutes(5);
    let after = store
        .record_delivery_attempt(
            fx.tenant.id,
            d.id,
            &DeliveryOutcome::Retry {
                status: Some(503),
                error: "service unavailable".into(),
                retry_at,
            },
            &timing(),
        )
        .await
        .expect("retry");
    assert_eq!((after.state, after.attempts), (DeliveryState::Pending, 1));
    assert_eq!(after.last_status, Some(503));
    assert!(
        store
            .claim_due_deliveries(Utc::now(), 10, Duration::from_secs(30))
            .await
            .expect("not yet")
            .is_empty()
    );
    let dead = store
        .record_delivery_attempt(
            fx.tenant.id,
            d.id,
            &DeliveryOutcome::Dead {
                status: None,
                error: "connection refused".into(),
            },
            &timing(),
        )
        .await
        .expect("dead");
    assert_eq!((dead.state, dead.attempts), (DeliveryState::Dead, 2));
    assert_not_found(
        store.replay_delivery(fx.other.id, d.id, Utc::now()).await,
        "cross replay",
    );
    store
        .replay_delivery(fx.tenant.id, d.id, Utc::now())
        .await
        .expect("replay");
    let claimed = store
        .claim_due_deliveries(
            Utc::now() + TimeDelta::seconds(1),
            10,
            Duration::from_secs(30),
        )
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let delivered = store
        .record_delivery_attempt(
            fx.tenant.id,
            d.id,
            &DeliveryOutcome::Delivered { status: 200 },
            &timing(),
        )
        .await
        .expect("delivered");
    assert_eq!(delivered.state, DeliveryState::Delivered);
    assert!(delivered.delivered_at.is_some());
    let listed = store
        .list_deliveries(fx.tenant.id, Some(sub.id), Page::default())
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
}

/// Subscriptions and deliveries are scoped by tenant.
pub async fn webhook_subscriptions_are_isolated(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let sub = subscription(fx.tenant.id);
    store.create_subscription(&sub).await.expect("subscribe");
    let d = WebhookDelivery::new(
        fx.tenant.id,
        sub.id,
        EventKind::MessageStatus,
        serde_json::json!({}),
    );
    store
        .enqueue_deliveries(std::slice::from_ref(&d))
        .await
        .expect("enqueue");
    assert_not_found(
        store.get_subscription(fx.other.id, sub.id).await,
        "cross get",
    );
    assert!(
        store
            .list_subscriptions(fx.other.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert_not_found(
        store.delete_subscription(fx.other.id, sub.id).await,
        "cross delete",
    );
    assert_not_found(
        store
            .record_delivery_attempt(
                fx.other.id,
                d.id,
                &DeliveryOutcome::Delivered { status: 200 },
                &timing(),
            )
            .await,
        "cross attempt",
    );
    assert!(
        store
            .list_deliveries(fx.other.id, None, Page::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let mut paused = sub.clone();
    paused.active = false;
    store.update_subscription(&paused).await.expect("update");
    store
        .delete_subscription(fx.tenant.id, sub.id)
        .await
        .expect("delete");
    assert!(
        store
            .claim_due_deliveries(
                Utc::now() + TimeDelta::seconds(1),
                10,
                Duration::from_secs(5)
            )
            .await
            .expect("claim")
            .is_empty(),
        "pending deliveries go with their subscription"
    );
}

/// The activity log is append-only per tenant.
pub async fn activity_log_is_isolated(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    for action in ["campaign.create", "campaign.start", "campaign.pause"] {
        store
            .append_activity(&ActivityEntry::new(
                fx.tenant.id,
                Actor::System,
                action,
                "campaign",
                None,
            ))
            .await
            .expect("append");
    }
    let page = store
        .list_activity(fx.tenant.id, Page::first(2))
        .await
        .expect("list");
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].action, "campaign.create");
    let rest = store
        .list_activity(fx.tenant.id, Page::after(2, page.next.expect("more")))
        .await
        .expect("rest");
    assert_eq!(rest.items.len(), 1);
    assert!(
        store
            .list_activity(fx.other.id, Page::default())
            .await
            .expect("other")
            .items
            .is_empty()
    );
}

// The campaign cases live in their own file; the conformance macro stamps them from here.
pub use super::campaign_cases::*;

// The listing-filter cases live in their own file; the conformance macro stamps them from here.
pub use super::flow_cases::*;
pub use super::query_cases::*;
