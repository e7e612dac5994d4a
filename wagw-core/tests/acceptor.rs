//! The group-commit acceptor against the memory backends: every caller gets its own answer,
//! duplicates stay duplicates, one bad message fails alone.

use std::collections::HashSet;

use wagw_core::ErrorCode;
use wagw_core::dispatch::{Acceptor, AcceptorConfig, NewMessage};
use wagw_core::ids::ChannelId;
use wagw_core::model::message::Priority;
use wagw_core::queue::Queue;
use wagw_core::store::{MessageQuery, MessageStore, Page};

mod common;

use common::{Setup, phone, quick};

async fn stored_count(s: &Setup) -> usize {
    s.store
        .list_messages(s.tenant.id, &MessageQuery::default(), Page::first(10_000))
        .await
        .expect("list")
        .items
        .len()
}

/// Submits every message from its own task, all at once, and returns the answers in order.
/// On a current-thread runtime the tasks all submit before the drain task runs, so they
/// form one batch.
async fn submit_together(
    acceptor: &Acceptor,
    messages: Vec<NewMessage>,
) -> Vec<wagw_core::Result<wagw_core::store::Inserted>> {
    let tasks: Vec<_> = messages
        .into_iter()
        .map(|m| {
            let acceptor = acceptor.clone();
            tokio::spawn(async move { acceptor.submit(m).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_are_all_recorded_and_queued_exactly_once() {
    let s = Setup::new(1_000).await;
    let d = s.dispatcher(quick());
    let acceptor = Acceptor::new(&d, AcceptorConfig::default().max_batch(16));
    let messages = (0..300)
        .map(|n| s.message(n, "Halo", Priority::Normal))
        .collect();
    let answers = submit_together(&acceptor, messages).await;
    let ids: HashSet<_> = answers
        .iter()
        .map(|a| {
            let a = a.as_ref().expect("accepted");
            assert!(a.created);
            a.id
        })
        .collect();
    assert_eq!(ids.len(), 300, "each caller got its own message");
    assert_eq!(stored_count(&s).await, 300);
    assert_eq!(s.queue.stats().await.expect("stats").pending(), 300);
    for id in ids {
        assert_eq!(s.status(id).await.id, id);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_repeated_idempotency_key_in_one_batch_is_answered_as_a_duplicate() {
    let s = Setup::new(1_000).await;
    let d = s.dispatcher(quick());
    let acceptor = Acceptor::new(&d, AcceptorConfig::default());
    let order = s
        .message(1, "Pesanan #77 dikirim", Priority::Normal)
        .idempotency_key("order-77");
    let answers = submit_together(
        &acceptor,
        vec![order.clone(), s.message(2, "Halo", Priority::Normal), order],
    )
    .await;
    let first = answers[0].as_ref().expect("first");
    let other = answers[1].as_ref().expect("other");
    let again = answers[2].as_ref().expect("again");
    assert!(first.created);
    assert!(other.created);
    assert!(!again.created, "the repeated key is a duplicate");
    assert_eq!(first.id, again.id);
    assert_ne!(first.id, other.id);
    assert_eq!(stored_count(&s).await, 2);
    assert_eq!(s.queue.stats().await.expect("stats").pending(), 2);
    // And one key submitted again later still finds the stored message.
    let later = acceptor
        .submit(
            s.message(1, "Pesanan #77 dikirim", Priority::Normal)
                .idempotency_key("order-77"),
        )
        .await
        .expect("later");
    assert_eq!((later.id, later.created), (first.id, false));
}

#[tokio::test(flavor = "current_thread")]
async fn a_bad_message_fails_alone_and_the_rest_of_its_batch_is_accepted() {
    let s = Setup::new(1_000).await;
    let d = s.dispatcher(quick());
    let acceptor = Acceptor::new(&d, AcceptorConfig::default());
    let foreign_channel = NewMessage::new(
        s.tenant.id,
        ChannelId::new(),
        phone(3),
        wagw_core::content::MessageContent::text("Halo"),
    );
    let too_long = s.message(4, &"x".repeat(4_097), Priority::Normal);
    let answers = submit_together(
        &acceptor,
        vec![
            s.message(1, "Halo", Priority::Normal),
            foreign_channel,
            too_long,
            s.message(2, "Halo", Priority::Urgent),
        ],
    )
    .await;
    assert!(answers[0].as_ref().is_ok_and(|a| a.created));
    assert_eq!(
        answers[1].as_ref().expect_err("foreign channel").code(),
        ErrorCode::ChannelNotFound
    );
    assert_eq!(
        answers[2].as_ref().expect_err("too long").code(),
        ErrorCode::InvalidContent
    );
    assert!(answers[3].as_ref().is_ok_and(|a| a.created));
    assert_eq!(stored_count(&s).await, 2);
    assert_eq!(s.queue.stats().await.expect("stats").pending(), 2);
}
