//! Conformance cases for the listing filters an API needs: messages by date range,
//! direction, status and text; contacts by text (with lists, tags and fields).
//! Stamped by [`store_conformance_tests!`](crate::store_conformance_tests).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};

use super::fixtures::{Fixture, phone};
use crate::Store;
use crate::content::{Media, MessageContent, OutboundMessage};
use crate::event::InboundMessage;
use crate::ids::MessageId;
use crate::model::contact::{Contact, ContactFilter, ContactList};
use crate::model::message::{Direction, MessageRecord, MessageStatus, Priority, StatusUpdate};
use crate::store::{MessageQuery, Page};

fn at(fx: &Fixture, to: u64, content: MessageContent, when: DateTime<Utc>) -> MessageRecord {
    let body = OutboundMessage::new(phone(to).as_str(), content);
    let mut record = MessageRecord::outbound(
        fx.tenant.id,
        fx.channel.id,
        phone(to),
        body,
        Priority::Normal,
    );
    record.created_at = when;
    record.updated_at = when;
    record
}

async fn ids(store: &dyn Store, fx: &Fixture, query: MessageQuery) -> BTreeSet<MessageId> {
    store
        .list_messages(fx.tenant.id, &query, Page::first(1_000))
        .await
        .expect("list messages")
        .items
        .into_iter()
        .map(|m| m.id)
        .collect()
}

/// Messages filter by creation time (`since` inclusive, `until` exclusive), direction,
/// status and text (text bodies, captions, file names, template names; ASCII case ignored;
/// `%` and `_` are plain characters), and only ever within the tenant.
pub async fn message_query_filters_by_date_direction_status_and_text(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t0 = Utc::now() - TimeDelta::days(3);
    let t1 = t0 + TimeDelta::days(1);
    let t2 = t1 + TimeDelta::days(1);
    let bill_may = at(&fx, 1, MessageContent::text("Tagihan bulan Mei siap"), t0);
    let promo = at(
        &fx,
        2,
        MessageContent::text("Promo diskon 50% hari ini"),
        t1,
    );
    let bill_june = at(
        &fx,
        3,
        MessageContent::document(
            Media::from_link("https://example.com/inv.pdf")
                .with_caption("TAGIHAN juni")
                .with_filename("invoice_06.pdf"),
        ),
        t2,
    );
    for m in [&bill_may, &promo, &bill_june] {
        store.insert_message(m).await.expect("insert");
    }
    let json = serde_json::json!({
        "from": phone(4).as_str(), "id": "wamid.QUERY-IN", "timestamp": t1.timestamp().to_string(),
        "type": "text", "text": { "body": "Mau tanya tagihan" }
    });
    let inbound_body: InboundMessage = serde_json::from_value(json).expect("inbound");
    let mut inbound = MessageRecord::inbound(fx.tenant.id, fx.channel.id, phone(4), inbound_body);
    inbound.created_at = t1;
    store.insert_message(&inbound).await.expect("inbound");
    // Another tenant's message that matches every filter below.
    let mut foreign = fx.other_message(1, "Tagihan bulan Mei siap");
    foreign.created_at = t1;
    store.insert_message(&foreign).await.expect("foreign");
    store
        .update_status(
            fx.tenant.id,
            promo.id,
            &StatusUpdate::sent("wamid.QUERY-PROMO", t1),
        )
        .await
        .expect("sent");

    let q = |f: fn(&mut MessageQuery)| {
        let mut query = MessageQuery::default();
        f(&mut query);
        query
    };
    let set = |ids: &[MessageId]| ids.iter().copied().collect::<BTreeSet<_>>();

    let mut query = MessageQuery {
        since: Some(t1),
        ..MessageQuery::default()
    };
    assert_eq!(
        ids(store, &fx, query.clone()).await,
        set(&[promo.id, inbound.id, bill_june.id]),
        "since is inclusive"
    );
    query.until = Some(t2);
    assert_eq!(
        ids(store, &fx, query).await,
        set(&[promo.id, inbound.id]),
        "until is exclusive"
    );
    assert_eq!(
        ids(store, &fx, q(|q| q.direction = Some(Direction::Inbound))).await,
        set(&[inbound.id])
    );
    assert_eq!(
        ids(store, &fx, q(|q| q.status = Some(MessageStatus::Sent))).await,
        set(&[promo.id])
    );
    assert_eq!(
        ids(store, &fx, q(|q| q.text = Some("tagihan".into()))).await,
        set(&[bill_may.id, bill_june.id, inbound.id]),
        "text bodies and captions, ASCII case ignored, inbound too"
    );
    assert_eq!(
        ids(store, &fx, q(|q| q.text = Some("INVOICE_06".into()))).await,
        set(&[bill_june.id]),
        "document file names"
    );
    assert_eq!(
        ids(store, &fx, q(|q| q.text = Some("50%".into()))).await,
        set(&[promo.id]),
        "% is a plain character"
    );
    assert!(
        ids(store, &fx, q(|q| q.text = Some("_".into())))
            .await
            .iter()
            .all(|id| *id == bill_june.id),
        "_ is a plain character"
    );
    assert!(
        ids(store, &fx, q(|q| q.text = Some("text".into())))
            .await
            .is_empty(),
        "keys of the stored JSON are not searched"
    );
    let combined = MessageQuery {
        text: Some("tagihan".into()),
        direction: Some(Direction::Outbound),
        since: Some(t0 + TimeDelta::hours(1)),
        ..MessageQuery::default()
    };
    assert_eq!(ids(store, &fx, combined).await, set(&[bill_june.id]));
}

/// Contacts filter by text in the name (ASCII case ignored) or the phone digits, combined
/// with lists, tags and fields, and only within the tenant.
pub async fn contact_filter_by_text_matches_name_and_phone(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let list = ContactList {
        id: crate::ids::ContactListId::new(),
        tenant_id: fx.tenant.id,
        name: "pelanggan".into(),
        description: None,
        created_at: Utc::now(),
    };
    store.create_list(&list).await.expect("list");
    let mut budi = Contact::new(fx.tenant.id, phone(11), Some("Budi Santoso".into()));
    budi.tags.insert("active".into());
    budi.fields = BTreeMap::from([("node".into(), "ODP-001".into())]);
    budi.lists.insert(list.id);
    let mut siti = Contact::new(fx.tenant.id, phone(22), Some("Siti 100%".into()));
    siti.lists.insert(list.id);
    let nameless = Contact::new(fx.tenant.id, phone(555), None);
    store
        .upsert_contacts(
            fx.tenant.id,
            &[budi.clone(), siti.clone(), nameless.clone()],
        )
        .await
        .expect("contacts");
    let foreign = Contact::new(fx.other.id, phone(11), Some("Budi Santoso".into()));
    store
        .upsert_contacts(fx.other.id, &[foreign])
        .await
        .expect("foreign");

    let phones = |filter: ContactFilter| async move {
        store
            .list_contacts(fx.tenant.id, &filter, Page::first(100))
            .await
            .expect("list contacts")
            .items
            .into_iter()
            .map(|c| c.phone)
            .collect::<BTreeSet<_>>()
    };
    let text = |t: &str| ContactFilter {
        text: Some(t.into()),
        ..ContactFilter::default()
    };
    assert_eq!(phones(text("budi")).await, BTreeSet::from([phone(11)]));
    assert_eq!(phones(text("SANTOSO")).await, BTreeSet::from([phone(11)]));
    assert_eq!(phones(text("0%")).await, BTreeSet::from([phone(22)]));
    assert_eq!(
        phones(text(&phone(555).as_str()[6..])).await,
        BTreeSet::from([phone(555)]),
        "phone digits, a contact without a name too"
    );
    assert!(phones(text("%")).await.len() == 1, "% is a plain character");
    assert_eq!(
        phones(ContactFilter {
            text: Some("i".into()),
            lists: BTreeSet::from([list.id]),
            tags: BTreeSet::from(["active".into()]),
            fields: BTreeMap::from([("node".into(), "ODP-001".into())]),
            ..ContactFilter::default()
        })
        .await,
        BTreeSet::from([phone(11)])
    );
}
