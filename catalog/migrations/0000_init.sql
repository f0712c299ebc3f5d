CREATE TABLE `collections` (
	`name` text PRIMARY KEY NOT NULL,
	`dim` integer NOT NULL,
	`metric` text NOT NULL,
	`hnsw_m` integer NOT NULL,
	`hnsw_ef_construction` integer NOT NULL,
	`hnsw_ef_search` integer NOT NULL,
	`placement` text,
	`max_staleness_ms` integer DEFAULT 5000 NOT NULL,
	`default_ack` text DEFAULT 'async' NOT NULL,
	`created_at` text NOT NULL,
	CONSTRAINT "collections_dim_positive" CHECK("collections"."dim" > 0),
	CONSTRAINT "collections_metric" CHECK("collections"."metric" in ('cosine', 'l2', 'ip')),
	CONSTRAINT "collections_default_ack" CHECK("collections"."default_ack" in ('async', 'semi-sync', 'sync')),
	CONSTRAINT "collections_hnsw_positive" CHECK("collections"."hnsw_m" > 0 and "collections"."hnsw_ef_construction" > 0 and "collections"."hnsw_ef_search" > 0),
	CONSTRAINT "collections_staleness" CHECK("collections"."max_staleness_ms" >= 0)
);
--> statement-breakpoint
CREATE TABLE `generations` (
	`collection` text NOT NULL,
	`model` text NOT NULL,
	`dim` integer NOT NULL,
	`state` text NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`collection`, `model`),
	FOREIGN KEY (`collection`) REFERENCES `collections`(`name`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "generations_dim_positive" CHECK("generations"."dim" > 0),
	CONSTRAINT "generations_state" CHECK("generations"."state" in ('active', 'staging', 'retired'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `generations_one_per_live_state` ON `generations` (`collection`,`state`) WHERE state in ('active', 'staging');--> statement-breakpoint
CREATE TABLE `manifest_segments` (
	`collection` text NOT NULL,
	`generation` text NOT NULL,
	`version` integer NOT NULL,
	`digest` text NOT NULL,
	`position` integer NOT NULL,
	PRIMARY KEY(`collection`, `generation`, `version`, `digest`),
	FOREIGN KEY (`digest`) REFERENCES `segments`(`digest`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`collection`,`generation`,`version`) REFERENCES `manifests`(`collection`,`generation`,`version`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `manifest_segments_digest` ON `manifest_segments` (`digest`);--> statement-breakpoint
CREATE TABLE `manifests` (
	`collection` text NOT NULL,
	`generation` text NOT NULL,
	`version` integer NOT NULL,
	`covers_seq` integer NOT NULL,
	`created_at` text NOT NULL,
	`group_id` text,
	PRIMARY KEY(`collection`, `generation`, `version`),
	FOREIGN KEY (`collection`,`generation`) REFERENCES `generations`(`collection`,`model`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "manifests_version_positive" CHECK("manifests"."version" > 0),
	CONSTRAINT "manifests_covers_seq" CHECK("manifests"."covers_seq" >= 0)
);
--> statement-breakpoint
CREATE INDEX `manifests_group` ON `manifests` (`group_id`);--> statement-breakpoint
CREATE TABLE `replica_state` (
	`collection` text NOT NULL,
	`generation` text NOT NULL,
	`applied_version` integer DEFAULT 0 NOT NULL,
	`applied_seq` integer DEFAULT 0 NOT NULL,
	`updated_at` text NOT NULL,
	PRIMARY KEY(`collection`, `generation`),
	FOREIGN KEY (`collection`,`generation`) REFERENCES `generations`(`collection`,`model`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "replica_state_progress" CHECK("replica_state"."applied_version" >= 0 and "replica_state"."applied_seq" >= 0)
);
--> statement-breakpoint
CREATE TABLE `segments` (
	`digest` text PRIMARY KEY NOT NULL,
	`collection` text NOT NULL,
	`generation` text NOT NULL,
	`count` integer NOT NULL,
	`min_seq` integer NOT NULL,
	`max_seq` integer NOT NULL,
	`bytes` integer NOT NULL,
	FOREIGN KEY (`collection`,`generation`) REFERENCES `generations`(`collection`,`model`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "segments_digest" CHECK(length("segments"."digest") = 64),
	CONSTRAINT "segments_seq_range" CHECK("segments"."min_seq" >= 0 and "segments"."max_seq" >= "segments"."min_seq"),
	CONSTRAINT "segments_sizes" CHECK("segments"."count" >= 0 and "segments"."bytes" >= 0)
);
--> statement-breakpoint
CREATE INDEX `segments_generation` ON `segments` (`collection`,`generation`);--> statement-breakpoint
CREATE TABLE `tombstones` (
	`collection` text NOT NULL,
	`generation` text NOT NULL,
	`version` integer NOT NULL,
	`point_id` text NOT NULL,
	`seq` integer NOT NULL,
	PRIMARY KEY(`collection`, `generation`, `version`, `point_id`),
	FOREIGN KEY (`collection`,`generation`,`version`) REFERENCES `manifests`(`collection`,`generation`,`version`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "tombstones_seq" CHECK("tombstones"."seq" >= 0)
);
