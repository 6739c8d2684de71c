-- Column comments on every table and view an analyst reads: meaning, unit and grain, so Explore's
-- schema browser and `DESCRIBE` / system.columns answer "what is this column" without the docs.
--
-- Why a migration of its own: comments are metadata only (no data rewritten, instant at any size)
-- and the tables' files are applied already, so they cannot be edited. Each statement sets the whole
-- set of a table's comments, so applying this file again changes nothing.
-- Not here: the live snapshots (sessions_last_hour, funnels_last_hour, trending_topics_live) are
-- refreshable materialized views whose columns ClickHouse 26.x does not keep comments on (ALTER ...
-- COMMENT COLUMN is accepted and dropped); their columns are described in 0005/0006 and docs/analytics.md.
-- Dictionaries take no ALTER; the *_latest views they read are commented. Bookkeeping tables
-- (loader_batches, loader_dead_letters, schema_migrations) are the pipeline's, not analysts'.
-- tests/warehouse/test_column_comments.py fails on any column of these tables without a comment.

ALTER TABLE events
    COMMENT COLUMN message_id 'Segment messageId (or a collector-assigned UUID, flagged message_id_generated); one row per message; text',
    COMMENT COLUMN call 'Segment call type: track, page, screen, identify, group or alias; text',
    COMMENT COLUMN event 'event name: the track event (view, like, ad_click, ...) or the call name for page/screen/identify/group/alias; text',
    COMMENT COLUMN event_time 'when the event happened on the client, corrected for clock skew (UTC, ms); the time to filter and bucket on',
    COMMENT COLUMN received_at 'when the collector received the batch (UTC, ms)',
    COMMENT COLUMN sent_at 'when the client sent the batch (client clock, UTC, ms); NULL if the client did not say',
    COMMENT COLUMN user_id 'the signed-in user id; empty for anonymous traffic (then count by anonymous_id or user_key)',
    COMMENT COLUMN anonymous_id 'device/browser id (UUID) Segment assigns before sign-in',
    COMMENT COLUMN source 'ingest path: the source name of the collector write key, or demo; text',
    COMMENT COLUMN session_id 'client session key (context.session_id); Pulse sessions themselves split at 30-minute gaps',
    COMMENT COLUMN country 'ISO 3166 country code from the event, else the stored profile, else unknown',
    COMMENT COLUMN region 'region (state/province) within country, else unknown',
    COMMENT COLUMN city 'city within region, else unknown',
    COMMENT COLUMN age_band 'age band of the user: 13-17, 18-24, 25-34, 35-44, 45-54, 55+ or unknown',
    COMMENT COLUMN segment 'user segment: casual, power_user, creator, lurker, ... or unknown',
    COMMENT COLUMN language 'language code of the user (traits, else context.locale), else unknown',
    COMMENT COLUMN device_type 'form factor from the user agent: mobile, tablet, desktop or unknown',
    COMMENT COLUMN os 'operating system family from the user agent (iOS, Android, Windows, Mac OS X, ...)',
    COMMENT COLUMN browser 'browser or app family from the user agent',
    COMMENT COLUMN referrer_source 'traffic source: search, social, campaign, direct, internal or referral (UTM and page referrer)',
    COMMENT COLUMN post_id 'the post an interaction or post_created concerns; empty otherwise',
    COMMENT COLUMN author_id 'the post\'s author (from the event, else the stored post); empty otherwise',
    COMMENT COLUMN category 'content category of the post, else unknown',
    COMMENT COLUMN hashtags 'hashtags of the post (lowercase, without #); empty array otherwise',
    COMMENT COLUMN search_query 'the search text of a search event; empty otherwise',
    COMMENT COLUMN campaign_id 'ad campaign of ad_impression/ad_click/conversion (and campaign_updated); empty otherwise',
    COMMENT COLUMN creative_id 'ad creative within the campaign; empty otherwise',
    COMMENT COLUMN spend_micros 'ad spend of this event in micros of USD (1e-6 USD): the impression\'s cost; 0 otherwise',
    COMMENT COLUMN revenue_micros 'revenue attributed to this event in micros of USD (1e-6 USD): a conversion\'s value; 0 otherwise',
    COMMENT COLUMN properties 'the event\'s properties as JSON text (read with JSONExtract*)',
    COMMENT COLUMN flags 'data-quality flags set by the collector: message_id_generated, clock_skew_corrected, future_timestamp',
    COMMENT COLUMN kafka_topic 'Kafka topic the row was loaded from (lineage; with partition and offset, unique per message)',
    COMMENT COLUMN kafka_partition 'Kafka partition the row was loaded from (lineage)',
    COMMENT COLUMN kafka_offset 'Kafka offset of the row within its partition (lineage)',
    COMMENT COLUMN stored_at 'when the warehouse stored the row (UTC, ms); stored_at - event_time is the freshness lag',
    COMMENT COLUMN user_key 'cityHash64 of user_id, else anonymous_id: the cheap key to count or group users by (uniq(user_key))';

ALTER TABLE interaction_events
    COMMENT COLUMN message_id 'Segment messageId (or a collector-assigned UUID, flagged message_id_generated); one row per message; text',
    COMMENT COLUMN call 'Segment call type: track, page, screen, identify, group or alias; text',
    COMMENT COLUMN event 'event name: the track event (view, like, ad_click, ...) or the call name for page/screen/identify/group/alias; text',
    COMMENT COLUMN event_time 'when the event happened on the client, corrected for clock skew (UTC, ms); the time to filter and bucket on',
    COMMENT COLUMN received_at 'when the collector received the batch (UTC, ms)',
    COMMENT COLUMN sent_at 'when the client sent the batch (client clock, UTC, ms); NULL if the client did not say',
    COMMENT COLUMN user_id 'the signed-in user id; empty for anonymous traffic (then count by anonymous_id or user_key)',
    COMMENT COLUMN anonymous_id 'device/browser id (UUID) Segment assigns before sign-in',
    COMMENT COLUMN source 'ingest path: the source name of the collector write key, or demo; text',
    COMMENT COLUMN session_id 'client session key (context.session_id); Pulse sessions themselves split at 30-minute gaps',
    COMMENT COLUMN country 'ISO 3166 country code from the event, else the stored profile, else unknown',
    COMMENT COLUMN region 'region (state/province) within country, else unknown',
    COMMENT COLUMN city 'city within region, else unknown',
    COMMENT COLUMN age_band 'age band of the user: 13-17, 18-24, 25-34, 35-44, 45-54, 55+ or unknown',
    COMMENT COLUMN segment 'user segment: casual, power_user, creator, lurker, ... or unknown',
    COMMENT COLUMN language 'language code of the user (traits, else context.locale), else unknown',
    COMMENT COLUMN device_type 'form factor from the user agent: mobile, tablet, desktop or unknown',
    COMMENT COLUMN os 'operating system family from the user agent (iOS, Android, Windows, Mac OS X, ...)',
    COMMENT COLUMN browser 'browser or app family from the user agent',
    COMMENT COLUMN referrer_source 'traffic source: search, social, campaign, direct, internal or referral (UTM and page referrer)',
    COMMENT COLUMN post_id 'the post an interaction or post_created concerns; empty otherwise',
    COMMENT COLUMN author_id 'the post\'s author (from the event, else the stored post); empty otherwise',
    COMMENT COLUMN category 'content category of the post, else unknown',
    COMMENT COLUMN hashtags 'hashtags of the post (lowercase, without #); empty array otherwise',
    COMMENT COLUMN search_query 'the search text of a search event; empty otherwise',
    COMMENT COLUMN campaign_id 'ad campaign of ad_impression/ad_click/conversion (and campaign_updated); empty otherwise',
    COMMENT COLUMN creative_id 'ad creative within the campaign; empty otherwise',
    COMMENT COLUMN spend_micros 'ad spend of this event in micros of USD (1e-6 USD): the impression\'s cost; 0 otherwise',
    COMMENT COLUMN revenue_micros 'revenue attributed to this event in micros of USD (1e-6 USD): a conversion\'s value; 0 otherwise',
    COMMENT COLUMN properties 'the event\'s properties as JSON text (read with JSONExtract*)',
    COMMENT COLUMN flags 'data-quality flags set by the collector: message_id_generated, clock_skew_corrected, future_timestamp',
    COMMENT COLUMN kafka_topic 'Kafka topic the row was loaded from (lineage; with partition and offset, unique per message)',
    COMMENT COLUMN kafka_partition 'Kafka partition the row was loaded from (lineage)',
    COMMENT COLUMN kafka_offset 'Kafka offset of the row within its partition (lineage)',
    COMMENT COLUMN stored_at 'when the warehouse stored the row (UTC, ms); stored_at - event_time is the freshness lag';

ALTER TABLE content_events
    COMMENT COLUMN message_id 'Segment messageId (or a collector-assigned UUID, flagged message_id_generated); one row per message; text',
    COMMENT COLUMN call 'Segment call type: track, page, screen, identify, group or alias; text',
    COMMENT COLUMN event 'event name: the track event (view, like, ad_click, ...) or the call name for page/screen/identify/group/alias; text',
    COMMENT COLUMN event_time 'when the event happened on the client, corrected for clock skew (UTC, ms); the time to filter and bucket on',
    COMMENT COLUMN received_at 'when the collector received the batch (UTC, ms)',
    COMMENT COLUMN sent_at 'when the client sent the batch (client clock, UTC, ms); NULL if the client did not say',
    COMMENT COLUMN user_id 'the signed-in user id; empty for anonymous traffic (then count by anonymous_id or user_key)',
    COMMENT COLUMN anonymous_id 'device/browser id (UUID) Segment assigns before sign-in',
    COMMENT COLUMN source 'ingest path: the source name of the collector write key, or demo; text',
    COMMENT COLUMN session_id 'client session key (context.session_id); Pulse sessions themselves split at 30-minute gaps',
    COMMENT COLUMN country 'ISO 3166 country code from the event, else the stored profile, else unknown',
    COMMENT COLUMN region 'region (state/province) within country, else unknown',
    COMMENT COLUMN city 'city within region, else unknown',
    COMMENT COLUMN age_band 'age band of the user: 13-17, 18-24, 25-34, 35-44, 45-54, 55+ or unknown',
    COMMENT COLUMN segment 'user segment: casual, power_user, creator, lurker, ... or unknown',
    COMMENT COLUMN language 'language code of the user (traits, else context.locale), else unknown',
    COMMENT COLUMN device_type 'form factor from the user agent: mobile, tablet, desktop or unknown',
    COMMENT COLUMN os 'operating system family from the user agent (iOS, Android, Windows, Mac OS X, ...)',
    COMMENT COLUMN browser 'browser or app family from the user agent',
    COMMENT COLUMN referrer_source 'traffic source: search, social, campaign, direct, internal or referral (UTM and page referrer)',
    COMMENT COLUMN post_id 'the post an interaction or post_created concerns; empty otherwise',
    COMMENT COLUMN author_id 'the post\'s author (from the event, else the stored post); empty otherwise',
    COMMENT COLUMN category 'content category of the post, else unknown',
    COMMENT COLUMN hashtags 'hashtags of the post (lowercase, without #); empty array otherwise',
    COMMENT COLUMN search_query 'the search text of a search event; empty otherwise',
    COMMENT COLUMN campaign_id 'ad campaign of ad_impression/ad_click/conversion (and campaign_updated); empty otherwise',
    COMMENT COLUMN creative_id 'ad creative within the campaign; empty otherwise',
    COMMENT COLUMN spend_micros 'ad spend of this event in micros of USD (1e-6 USD): the impression\'s cost; 0 otherwise',
    COMMENT COLUMN revenue_micros 'revenue attributed to this event in micros of USD (1e-6 USD): a conversion\'s value; 0 otherwise',
    COMMENT COLUMN properties 'the event\'s properties as JSON text (read with JSONExtract*)',
    COMMENT COLUMN flags 'data-quality flags set by the collector: message_id_generated, clock_skew_corrected, future_timestamp',
    COMMENT COLUMN kafka_topic 'Kafka topic the row was loaded from (lineage; with partition and offset, unique per message)',
    COMMENT COLUMN kafka_partition 'Kafka partition the row was loaded from (lineage)',
    COMMENT COLUMN kafka_offset 'Kafka offset of the row within its partition (lineage)',
    COMMENT COLUMN stored_at 'when the warehouse stored the row (UTC, ms); stored_at - event_time is the freshness lag';

ALTER TABLE ad_events
    COMMENT COLUMN message_id 'Segment messageId (or a collector-assigned UUID, flagged message_id_generated); one row per message; text',
    COMMENT COLUMN call 'Segment call type: track, page, screen, identify, group or alias; text',
    COMMENT COLUMN event 'event name: the track event (view, like, ad_click, ...) or the call name for page/screen/identify/group/alias; text',
    COMMENT COLUMN event_time 'when the event happened on the client, corrected for clock skew (UTC, ms); the time to filter and bucket on',
    COMMENT COLUMN received_at 'when the collector received the batch (UTC, ms)',
    COMMENT COLUMN sent_at 'when the client sent the batch (client clock, UTC, ms); NULL if the client did not say',
    COMMENT COLUMN user_id 'the signed-in user id; empty for anonymous traffic (then count by anonymous_id or user_key)',
    COMMENT COLUMN anonymous_id 'device/browser id (UUID) Segment assigns before sign-in',
    COMMENT COLUMN source 'ingest path: the source name of the collector write key, or demo; text',
    COMMENT COLUMN session_id 'client session key (context.session_id); Pulse sessions themselves split at 30-minute gaps',
    COMMENT COLUMN country 'ISO 3166 country code from the event, else the stored profile, else unknown',
    COMMENT COLUMN region 'region (state/province) within country, else unknown',
    COMMENT COLUMN city 'city within region, else unknown',
    COMMENT COLUMN age_band 'age band of the user: 13-17, 18-24, 25-34, 35-44, 45-54, 55+ or unknown',
    COMMENT COLUMN segment 'user segment: casual, power_user, creator, lurker, ... or unknown',
    COMMENT COLUMN language 'language code of the user (traits, else context.locale), else unknown',
    COMMENT COLUMN device_type 'form factor from the user agent: mobile, tablet, desktop or unknown',
    COMMENT COLUMN os 'operating system family from the user agent (iOS, Android, Windows, Mac OS X, ...)',
    COMMENT COLUMN browser 'browser or app family from the user agent',
    COMMENT COLUMN referrer_source 'traffic source: search, social, campaign, direct, internal or referral (UTM and page referrer)',
    COMMENT COLUMN post_id 'the post an interaction or post_created concerns; empty otherwise',
    COMMENT COLUMN author_id 'the post\'s author (from the event, else the stored post); empty otherwise',
    COMMENT COLUMN category 'content category of the post, else unknown',
    COMMENT COLUMN hashtags 'hashtags of the post (lowercase, without #); empty array otherwise',
    COMMENT COLUMN search_query 'the search text of a search event; empty otherwise',
    COMMENT COLUMN campaign_id 'ad campaign of ad_impression/ad_click/conversion (and campaign_updated); empty otherwise',
    COMMENT COLUMN creative_id 'ad creative within the campaign; empty otherwise',
    COMMENT COLUMN spend_micros 'ad spend of this event in micros of USD (1e-6 USD): the impression\'s cost; 0 otherwise',
    COMMENT COLUMN revenue_micros 'revenue attributed to this event in micros of USD (1e-6 USD): a conversion\'s value; 0 otherwise',
    COMMENT COLUMN properties 'the event\'s properties as JSON text (read with JSONExtract*)',
    COMMENT COLUMN flags 'data-quality flags set by the collector: message_id_generated, clock_skew_corrected, future_timestamp',
    COMMENT COLUMN kafka_topic 'Kafka topic the row was loaded from (lineage; with partition and offset, unique per message)',
    COMMENT COLUMN kafka_partition 'Kafka partition the row was loaded from (lineage)',
    COMMENT COLUMN kafka_offset 'Kafka offset of the row within its partition (lineage)',
    COMMENT COLUMN stored_at 'when the warehouse stored the row (UTC, ms); stored_at - event_time is the freshness lag';

ALTER TABLE identity_events
    COMMENT COLUMN message_id 'Segment messageId (or a collector-assigned UUID, flagged message_id_generated); one row per message; text',
    COMMENT COLUMN call 'Segment call type: track, page, screen, identify, group or alias; text',
    COMMENT COLUMN event 'event name: the track event (view, like, ad_click, ...) or the call name for page/screen/identify/group/alias; text',
    COMMENT COLUMN event_time 'when the event happened on the client, corrected for clock skew (UTC, ms); the time to filter and bucket on',
    COMMENT COLUMN received_at 'when the collector received the batch (UTC, ms)',
    COMMENT COLUMN sent_at 'when the client sent the batch (client clock, UTC, ms); NULL if the client did not say',
    COMMENT COLUMN user_id 'the signed-in user id; empty for anonymous traffic (then count by anonymous_id or user_key)',
    COMMENT COLUMN anonymous_id 'device/browser id (UUID) Segment assigns before sign-in',
    COMMENT COLUMN source 'ingest path: the source name of the collector write key, or demo; text',
    COMMENT COLUMN session_id 'client session key (context.session_id); Pulse sessions themselves split at 30-minute gaps',
    COMMENT COLUMN country 'ISO 3166 country code from the event, else the stored profile, else unknown',
    COMMENT COLUMN region 'region (state/province) within country, else unknown',
    COMMENT COLUMN city 'city within region, else unknown',
    COMMENT COLUMN age_band 'age band of the user: 13-17, 18-24, 25-34, 35-44, 45-54, 55+ or unknown',
    COMMENT COLUMN segment 'user segment: casual, power_user, creator, lurker, ... or unknown',
    COMMENT COLUMN language 'language code of the user (traits, else context.locale), else unknown',
    COMMENT COLUMN device_type 'form factor from the user agent: mobile, tablet, desktop or unknown',
    COMMENT COLUMN os 'operating system family from the user agent (iOS, Android, Windows, Mac OS X, ...)',
    COMMENT COLUMN browser 'browser or app family from the user agent',
    COMMENT COLUMN referrer_source 'traffic source: search, social, campaign, direct, internal or referral (UTM and page referrer)',
    COMMENT COLUMN post_id 'the post an interaction or post_created concerns; empty otherwise',
    COMMENT COLUMN author_id 'the post\'s author (from the event, else the stored post); empty otherwise',
    COMMENT COLUMN category 'content category of the post, else unknown',
    COMMENT COLUMN hashtags 'hashtags of the post (lowercase, without #); empty array otherwise',
    COMMENT COLUMN search_query 'the search text of a search event; empty otherwise',
    COMMENT COLUMN campaign_id 'ad campaign of ad_impression/ad_click/conversion (and campaign_updated); empty otherwise',
    COMMENT COLUMN creative_id 'ad creative within the campaign; empty otherwise',
    COMMENT COLUMN spend_micros 'ad spend of this event in micros of USD (1e-6 USD): the impression\'s cost; 0 otherwise',
    COMMENT COLUMN revenue_micros 'revenue attributed to this event in micros of USD (1e-6 USD): a conversion\'s value; 0 otherwise',
    COMMENT COLUMN properties 'the event\'s properties as JSON text (read with JSONExtract*)',
    COMMENT COLUMN flags 'data-quality flags set by the collector: message_id_generated, clock_skew_corrected, future_timestamp',
    COMMENT COLUMN kafka_topic 'Kafka topic the row was loaded from (lineage; with partition and offset, unique per message)',
    COMMENT COLUMN kafka_partition 'Kafka partition the row was loaded from (lineage)',
    COMMENT COLUMN kafka_offset 'Kafka offset of the row within its partition (lineage)',
    COMMENT COLUMN stored_at 'when the warehouse stored the row (UTC, ms); stored_at - event_time is the freshness lag';

ALTER TABLE events_per_minute
    COMMENT COLUMN minute 'start of the minute bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 minute)',
    COMMENT COLUMN event 'event name (see events.event); grouping key',
    COMMENT COLUMN country 'country code (see events.country); grouping key',
    COMMENT COLUMN device_type 'mobile, tablet, desktop or unknown; grouping key',
    COMMENT COLUMN events 'events in the bucket (count, sum over rows: sum(events)); per minute',
    COMMENT COLUMN users 'unique users (user_id, else anonymous_id) as a uniq state: read with uniqMerge(users)',
    COMMENT COLUMN last_stored_at 'newest stored_at of the bucket\'s rows (UTC, ms): max(last_stored_at)';

ALTER TABLE events_per_second
    COMMENT COLUMN second 'start of the second bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 second)',
    COMMENT COLUMN event 'event name (see events.event); grouping key',
    COMMENT COLUMN country 'country code (see events.country); grouping key',
    COMMENT COLUMN device_type 'mobile, tablet, desktop or unknown; grouping key',
    COMMENT COLUMN events 'events in the bucket (count, sum over rows: sum(events)); per second; kept 2 hours';

ALTER TABLE engagement_per_minute
    COMMENT COLUMN bucket 'start of the minute bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 minute)',
    COMMENT COLUMN event 'event name (see events.event); grouping key',
    COMMENT COLUMN country 'country code (see events.country); grouping key',
    COMMENT COLUMN device_type 'mobile, tablet, desktop or unknown; grouping key',
    COMMENT COLUMN segment 'user segment; grouping key',
    COMMENT COLUMN category 'content category (unknown for events without a post); grouping key',
    COMMENT COLUMN events 'events in the bucket (count, sum over rows: sum(events)); per minute',
    COMMENT COLUMN users 'unique users (user_id, else anonymous_id) as a uniq state: read with uniqMerge(users)';

ALTER TABLE engagement_per_5m
    COMMENT COLUMN bucket 'start of the 5-minute bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 5-minute)',
    COMMENT COLUMN event 'event name (see events.event); grouping key',
    COMMENT COLUMN country 'country code (see events.country); grouping key',
    COMMENT COLUMN device_type 'mobile, tablet, desktop or unknown; grouping key',
    COMMENT COLUMN segment 'user segment; grouping key',
    COMMENT COLUMN category 'content category (unknown for events without a post); grouping key',
    COMMENT COLUMN events 'events in the bucket (count, sum over rows: sum(events)); per 5-minute',
    COMMENT COLUMN users 'unique users (user_id, else anonymous_id) as a uniq state: read with uniqMerge(users)';

ALTER TABLE engagement_per_hour
    COMMENT COLUMN bucket 'start of the hour bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 hour)',
    COMMENT COLUMN event 'event name (see events.event); grouping key',
    COMMENT COLUMN country 'country code (see events.country); grouping key',
    COMMENT COLUMN device_type 'mobile, tablet, desktop or unknown; grouping key',
    COMMENT COLUMN segment 'user segment; grouping key',
    COMMENT COLUMN category 'content category (unknown for events without a post); grouping key',
    COMMENT COLUMN events 'events in the bucket (count, sum over rows: sum(events)); per hour',
    COMMENT COLUMN users 'unique users (user_id, else anonymous_id) as a uniq state: read with uniqMerge(users)';

ALTER TABLE engagement_geo_per_minute
    COMMENT COLUMN bucket 'start of the minute bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 minute)',
    COMMENT COLUMN event 'event name (see events.event); grouping key',
    COMMENT COLUMN country 'country code (see events.country); grouping key',
    COMMENT COLUMN region 'region within country; grouping key',
    COMMENT COLUMN city 'city within region; grouping key',
    COMMENT COLUMN events 'events in the bucket (count, sum over rows: sum(events)); per minute',
    COMMENT COLUMN users 'unique users (user_id, else anonymous_id) as a uniq state: read with uniqMerge(users)';

ALTER TABLE engagement_geo_per_hour
    COMMENT COLUMN bucket 'start of the hour bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 hour)',
    COMMENT COLUMN event 'event name (see events.event); grouping key',
    COMMENT COLUMN country 'country code (see events.country); grouping key',
    COMMENT COLUMN region 'region within country; grouping key',
    COMMENT COLUMN city 'city within region; grouping key',
    COMMENT COLUMN events 'events in the bucket (count, sum over rows: sum(events)); per hour',
    COMMENT COLUMN users 'unique users (user_id, else anonymous_id) as a uniq state: read with uniqMerge(users)';

ALTER TABLE active_users_per_day
    COMMENT COLUMN day 'UTC day of event_time; one row per day x country x device_type x segment',
    COMMENT COLUMN country 'country code (see events.country); grouping key',
    COMMENT COLUMN device_type 'mobile, tablet, desktop or unknown; grouping key',
    COMMENT COLUMN segment 'user segment; grouping key',
    COMMENT COLUMN users 'unique users (user_id, else anonymous_id) as a uniq state: read with uniqMerge(users); DAU of the day, merge several days for WAU/MAU';

ALTER TABLE user_days
    COMMENT COLUMN day 'UTC day of event_time',
    COMMENT COLUMN user 'the user: user_id, else anonymous_id; one row per active user and day (exact, for retention)',
    COMMENT COLUMN events 'the user\'s events that day (count; sum(events))';

ALTER TABLE topic_mentions_per_minute
    COMMENT COLUMN bucket 'start of the minute bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 minute)',
    COMMENT COLUMN kind 'hashtag (from post hashtags) or keyword (words of 3+ letters of a search); grouping key',
    COMMENT COLUMN term 'the hashtag or keyword (lowercase); grouping key',
    COMMENT COLUMN region 'region of the mentioning user; grouping key',
    COMMENT COLUMN age_band 'age band of the mentioning user; grouping key',
    COMMENT COLUMN mentions 'mentions in the bucket (count; sum(mentions))',
    COMMENT COLUMN users 'distinct mentioning users as a uniq state: uniqMerge(users)';

ALTER TABLE ad_performance_per_minute
    COMMENT COLUMN bucket 'start of the minute bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 minute)',
    COMMENT COLUMN campaign_id 'ad campaign; grouping key',
    COMMENT COLUMN creative_id 'ad creative; grouping key',
    COMMENT COLUMN segment 'user segment; grouping key',
    COMMENT COLUMN device_type 'mobile, tablet, desktop or unknown; grouping key',
    COMMENT COLUMN country 'country code (see events.country); grouping key',
    COMMENT COLUMN impressions 'ad_impression events (count; sum(impressions))',
    COMMENT COLUMN clicks 'ad_click events (count; sum(clicks))',
    COMMENT COLUMN conversions 'conversion events (count; sum(conversions))',
    COMMENT COLUMN spend_micros 'ad spend in micros of USD (1e-6 USD; sum(spend_micros))',
    COMMENT COLUMN revenue_micros 'attributed revenue in micros of USD (1e-6 USD; sum(revenue_micros))';

ALTER TABLE ad_performance_per_hour
    COMMENT COLUMN bucket 'start of the hour bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 hour)',
    COMMENT COLUMN campaign_id 'ad campaign; grouping key',
    COMMENT COLUMN creative_id 'ad creative; grouping key',
    COMMENT COLUMN segment 'user segment; grouping key',
    COMMENT COLUMN device_type 'mobile, tablet, desktop or unknown; grouping key',
    COMMENT COLUMN country 'country code (see events.country); grouping key',
    COMMENT COLUMN impressions 'ad_impression events (count; sum(impressions))',
    COMMENT COLUMN clicks 'ad_click events (count; sum(clicks))',
    COMMENT COLUMN conversions 'conversion events (count; sum(conversions))',
    COMMENT COLUMN spend_micros 'ad spend in micros of USD (1e-6 USD; sum(spend_micros))',
    COMMENT COLUMN revenue_micros 'attributed revenue in micros of USD (1e-6 USD; sum(revenue_micros))';

ALTER TABLE engagement_slices_per_minute
    COMMENT COLUMN bucket 'start of the minute bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 minute)',
    COMMENT COLUMN dimension 'which dimension this row slices by: all, event, country, device_type, segment or category; filter on it',
    COMMENT COLUMN value 'the dimension\'s value (\'all\' when dimension = \'all\')',
    COMMENT COLUMN events 'events in the bucket (count, sum over rows: sum(events)); per minute';

ALTER TABLE engagement_slices_per_hour
    COMMENT COLUMN bucket 'start of the hour bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 hour)',
    COMMENT COLUMN dimension 'which dimension this row slices by: all, event, country, device_type, segment or category; filter on it',
    COMMENT COLUMN value 'the dimension\'s value (\'all\' when dimension = \'all\')',
    COMMENT COLUMN events 'events in the bucket (count, sum over rows: sum(events)); per hour',
    COMMENT COLUMN users 'unique users (user_id, else anonymous_id) as a uniqCombined (HyperLogLog, ~0.3% error) state: read with uniqCombinedMerge(users)';

ALTER TABLE active_user_slices_per_day
    COMMENT COLUMN day 'UTC day of event_time',
    COMMENT COLUMN dimension 'all, country, device_type or segment; filter on it',
    COMMENT COLUMN value 'the dimension\'s value (\'all\' when dimension = \'all\')',
    COMMENT COLUMN users 'unique users (user_id, else anonymous_id) as a uniqCombined (HyperLogLog, ~0.3% error) state: read with uniqCombinedMerge(users); DAU of the day';

ALTER TABLE topic_mentions_by_term_per_minute
    COMMENT COLUMN bucket 'start of the minute bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 minute)',
    COMMENT COLUMN kind 'hashtag or keyword; grouping key',
    COMMENT COLUMN term 'the hashtag or keyword; grouping key',
    COMMENT COLUMN mentions 'mentions in the bucket, every region and age band (count; sum(mentions))',
    COMMENT COLUMN users 'distinct mentioning users as a uniq state: uniqMerge(users)';

ALTER TABLE users_per_minute
    COMMENT COLUMN bucket 'start of the minute bucket (UTC) of event_time; a bucket holds events in [bucket, bucket + 1 minute)',
    COMMENT COLUMN users 'unique users of the minute as a uniqCombined(14) state (~0.8% error): uniqCombinedMerge(14)(users)';

ALTER TABLE ingest_per_second
    COMMENT COLUMN second 'start of the second (UTC) in which rows became visible (stored_at), kept 2 hours',
    COMMENT COLUMN events 'rows stored in that second (count; sum(events))',
    COMMENT COLUMN last_stored_at 'newest stored_at of those rows (UTC, ms): max(last_stored_at)';

ALTER TABLE rejected_events
    COMMENT COLUMN failed_at 'when the collector rejected the input (UTC, ms); one row per rejected message or batch',
    COMMENT COLUMN source 'source name of the write key that sent it',
    COMMENT COLUMN reason 'why it was rejected, in words (the validation error)',
    COMMENT COLUMN reason_code 'rejection class: schema, bad_encoding, bad_batch, internal, ...; group by it',
    COMMENT COLUMN payload 'the rejected input as received, as text (base64 when it was not UTF-8)',
    COMMENT COLUMN kafka_topic 'dead-letter topic the row was loaded from (lineage)',
    COMMENT COLUMN kafka_partition 'Kafka partition (lineage)',
    COMMENT COLUMN kafka_offset 'Kafka offset (lineage)',
    COMMENT COLUMN stored_at 'when the warehouse stored the row (UTC, ms)';

ALTER TABLE users
    COMMENT COLUMN user_id 'the user; one row per identify call (latest wins: read users_latest or users FINAL)',
    COMMENT COLUMN anonymous_id 'device id the identify came from',
    COMMENT COLUMN country 'country code from the traits',
    COMMENT COLUMN region 'region from the traits',
    COMMENT COLUMN city 'city from the traits',
    COMMENT COLUMN age_band 'age band from the traits',
    COMMENT COLUMN segment 'segment from the traits',
    COMMENT COLUMN language 'language from the traits',
    COMMENT COLUMN updated_at 'event_time of the identify (UTC, ms): the version';

ALTER TABLE users_latest
    COMMENT COLUMN user_id 'the user; one row per user (latest profile)',
    COMMENT COLUMN country 'latest country',
    COMMENT COLUMN region 'latest region',
    COMMENT COLUMN city 'latest city',
    COMMENT COLUMN age_band 'latest age band',
    COMMENT COLUMN segment 'latest segment',
    COMMENT COLUMN language 'latest language',
    COMMENT COLUMN last_updated_at 'event_time of the latest identify (UTC, ms)';

ALTER TABLE posts
    COMMENT COLUMN post_id 'the post; one row per post_created (latest wins: read posts_latest)',
    COMMENT COLUMN author_id 'the author (user_id)',
    COMMENT COLUMN category 'content category',
    COMMENT COLUMN hashtags 'hashtags of the post (lowercase, without #)',
    COMMENT COLUMN created_at 'event_time of post_created (UTC, ms): the version';

ALTER TABLE posts_latest
    COMMENT COLUMN post_id 'the post; one row per post',
    COMMENT COLUMN author_id 'latest author',
    COMMENT COLUMN category 'latest category',
    COMMENT COLUMN hashtags 'latest hashtags',
    COMMENT COLUMN first_created_at 'earliest post_created time (UTC, ms)';

ALTER TABLE campaigns
    COMMENT COLUMN campaign_id 'the campaign; one row per campaign_updated event or operator insert (latest wins: read campaigns_latest)',
    COMMENT COLUMN name 'campaign name',
    COMMENT COLUMN daily_budget_micros 'daily budget in micros of USD (1e-6 USD) per UTC day',
    COMMENT COLUMN updated_at 'when this version was set (UTC, ms)';

ALTER TABLE campaigns_latest
    COMMENT COLUMN campaign_id 'the campaign; one row per campaign',
    COMMENT COLUMN name 'latest name',
    COMMENT COLUMN daily_budget_micros 'latest daily budget in micros of USD (1e-6 USD) per UTC day',
    COMMENT COLUMN last_updated_at 'time of the latest version (UTC, ms)';
