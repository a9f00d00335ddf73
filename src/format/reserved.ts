/**
 * Names this project gives a meaning of its own: its metric namespace, the writer's heartbeat
 * gauge inside the shared file format, and the file names of compaction archives. Shared by
 * writer, reader, merge, exposition and the self metrics.
 */

/** The daemon's own metric namespace: self metrics live here; merged families may not (but see HEARTBEAT_METRIC). */
export const SELF_PREFIX = 'multiproc_exporter_';

/** The opt-in heartbeat gauge (mode liveall): UNIX seconds of the worker's last heartbeat. */
export const HEARTBEAT_METRIC = 'multiproc_exporter_worker_heartbeat_timestamp_seconds';

/** Process id of compaction archives: `<prefix>_mpe-archive-<layout>.db`, a file with no writer. */
export const ARCHIVE_ID_PREFIX = 'mpe-archive-';
