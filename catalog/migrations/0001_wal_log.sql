CREATE TABLE `node_state` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `wal_log` (
	`seq` integer PRIMARY KEY NOT NULL,
	`collection` text NOT NULL,
	`generation` text NOT NULL,
	`payload` blob NOT NULL,
	CONSTRAINT "wal_log_seq_positive" CHECK("wal_log"."seq" > 0)
);
--> statement-breakpoint
CREATE INDEX `wal_log_generation_seq` ON `wal_log` (`collection`,`generation`,`seq`);