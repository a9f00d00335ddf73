/**
 * Names this project gives a meaning of its own inside the shared file format: the writer's
 * heartbeat gauge and the file names of compaction archives. Shared by writer, reader and merge.
 */

/** The opt-in heartbeat gauge (mode liveall): UNIX seconds of the worker's last heartbeat. */
export const HEARTBEAT_METRIC = 'multiproc_exporter_worker_heartbeat_timestamp_seconds';

/** Process id of compaction archives: `<prefix>_mpe-archive-<layout>.db`, a file with no writer. */
export const ARCHIVE_ID_PREFIX = 'mpe-archive-';
