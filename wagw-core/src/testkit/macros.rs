/// Stamps one `#[tokio::test]` per [`store_cases`](crate::testkit::store_cases) case.
///
/// The argument is an expression evaluated afresh in every test that yields a future of the
/// store under test (anything implementing [`Store`](crate::Store)). With `optional` before
/// it, the future yields an `Option`, and `None` skips the case (a service that is not
/// configured here); the test prints that it was skipped.
#[macro_export]
macro_rules! store_conformance_tests {
    (optional $make:expr) => {
        $crate::store_conformance_tests!(@stamp optional, $make);
    };
    ($make:expr) => {
        $crate::store_conformance_tests!(@stamp required, $make);
    };
    (@stamp $mode:ident, $make:expr) => {
        $crate::__stamp_conformance_tests!(store_cases, $mode, $make;
            tenant_roundtrip,
            users_have_unique_emails_per_tenant,
            api_keys_resolve_by_hash_and_revoke,
            usage_quota_refuses_excess_and_changes_nothing,
            usage_quota_holds_under_concurrency,
            channel_phone_number_id_is_unique_across_tenants,
            channels_are_isolated,
            contacts_upsert_merges_by_phone,
            contacts_are_isolated,
            contact_filter_selects_by_tags_fields_and_lists,
            contact_stream_yields_every_match_once,
            contact_lists_track_membership,
            templates_are_unique_and_sync_status_by_remote_id,
            templates_are_isolated,
            message_idempotency_key_deduplicates_per_tenant,
            message_bulk_insert_deduplicates_within_and_across_batches,
            message_status_never_moves_backwards,
            message_status_by_wamid_applies_in_bulk,
            message_status_converges_under_concurrent_updates,
            message_attempts_are_recorded,
            a_refused_attempt_is_queued_again,
            messages_are_isolated,
            messages_page_without_gaps_or_repeats,
            last_inbound_tracks_the_customer_window,
            campaign_update_checks_version,
            running_campaign_cannot_be_deleted,
            campaign_recipients_bulk_insert_100k,
            recipient_status_is_monotonic_and_counted,
            failed_recipients_can_be_retried,
            recipients_page_by_status,
            campaigns_are_isolated,
            flows_are_isolated,
            session_save_checks_version,
            auto_reply_rules_sorted_and_isolated,
            schedules_come_due_and_check_version,
            webhook_claims_do_not_overlap,
            webhook_attempts_retry_die_and_replay,
            webhook_subscriptions_are_isolated,
            activity_log_is_isolated,
            outcome_and_recipient_are_written_together,
            status_before_the_send_answer_is_kept_and_applied,
            pending_statuses_prune_only_old_ones,
            charge_message_charges_once,
            queued_messages_page_across_tenants,
            sending_messages_page_across_tenants,
            fail_queued_campaign_messages_touches_only_that_campaign,
            due_campaigns_are_running_and_due_scheduled_ones,
            campaign_counters_match_a_recount,
            rejections_are_stored_without_cap,
            recipient_insert_reports_duplicates,
            status_racing_the_send_answer_is_never_lost,
            campaign_counters_hold_under_concurrent_updates,
            message_query_filters_by_date_direction_status_and_text,
            contact_filter_by_text_matches_name_and_phone,
            sessions_come_due_at_timeouts_expiry_and_handoff_end,
            inbound_is_stored_once_with_its_contact_job_and_events,
            inbound_keeps_a_named_contact_and_adds_profile_fields,
            refused_inbound_changes_nothing,
            conversation_jobs_run_one_at_a_time_per_contact,
            conversation_job_claims_do_not_overlap,
            rule_cooldown_is_taken_once_until_it_ends,
            channels_are_found_by_business_account,
            analytics_figures_count_what_is_stored,
            statuses_and_their_events_are_written_together,
            campaign_completion_is_stored_with_its_state,
            delivery_attempts_are_logged,
            rule_quota_holds_under_concurrent_creates,
            ended_cooldowns_are_pruned,
            flow_engagement_is_recorded_with_the_save,
            flow_events_are_stored_with_the_session_save
        );
    };
}

/// Stamps one `#[tokio::test]` per [`queue_cases`](crate::testkit::queue_cases) case.
///
/// The argument is an expression evaluated afresh in every test that yields a future of an
/// empty queue under test (anything implementing [`Queue`](crate::Queue)).
#[macro_export]
macro_rules! queue_conformance_tests {
    (optional $make:expr) => {
        $crate::queue_conformance_tests!(@stamp optional, $make);
    };
    ($make:expr) => {
        $crate::queue_conformance_tests!(@stamp required, $make);
    };
    (@stamp $mode:ident, $make:expr) => {
        $crate::__stamp_conformance_tests!(queue_cases, $mode, $make;
            enqueue_reserve_ack,
            run_at_delays_a_job,
            priority_orders_within_a_group,
            reserve_is_fair_across_groups,
            reserve_can_be_limited_to_groups,
            reserve_honours_exclusions_and_group_caps,
            expired_reservation_is_redelivered,
            expiry_on_the_last_attempt_never_dead_letters,
            nack_retries_then_dead_letters,
            dead_letter_can_be_retried,
            dedup_key_holds_until_ack,
            enqueue_many_reports_duplicates,
            extend_keeps_a_job_reserved,
            release_returns_a_job_without_an_attempt,
            stats_count_each_state,
            concurrent_reservers_never_share_a_job,
            ack_many_settles_a_batch_and_reports_stale_leases,
            settled_lease_is_refused
        );
    };
}

/// Stamps one `#[tokio::test]` per [`transport_cases`](crate::testkit::transport_cases) case.
///
/// The argument yields a future of `(transport, channel, recipient)`: a transport, a channel
/// it can send from, and a number it can send to.
#[macro_export]
macro_rules! transport_conformance_tests {
    (optional $make:expr) => {
        $crate::transport_conformance_tests!(@stamp optional, $make);
    };
    ($make:expr) => {
        $crate::transport_conformance_tests!(@stamp required, $make);
    };
    (@stamp $mode:ident, $make:expr) => {
        $crate::__stamp_conformance_tests!(transport_cases, $mode, $make;
            send_returns_distinct_wamids,
            concurrent_sends_are_all_accepted,
            invalid_content_is_rejected_before_sending,
            media_roundtrip_when_supported
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __stamp_conformance_tests {
    ($module:ident, required, $make:expr; $($case:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let backend = $make.await;
            $crate::testkit::$module::$case(&backend).await;
        }
    )+};
    ($module:ident, optional, $make:expr; $($case:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let Some(backend) = $make.await else {
                eprintln!("{}: skipped, the backend is not configured", stringify!($case));
                return;
            };
            $crate::testkit::$module::$case(&backend).await;
        }
    )+};
}
