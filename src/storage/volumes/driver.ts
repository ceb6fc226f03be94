/**
 * The volume driver interface of the storage pool: size-limited private areas. A driver does
 * volume operations only, never touches the database, and declares what it can do as data
 * (capabilities). Each driver is one file of this folder and one entry of VOLUME_DRIVERS
 * (index.ts), and passes volume.conformance.ts.
 */
/** What a driver can do; callers branch on these, never on a driver's name. */
export interface DriverCapabilities {
  /** The size limit is hard: writes past it fail inside the container. */
  quota: boolean;
  growOnline: boolean;
  shrinkOnline: boolean;
  /** Instant copy-on-write snapshots of a volume. */
  snapshots: boolean;
  /** `df` inside the container shows the limit (else the pool's size). */
  dfShowsLimit: boolean;
}

export interface VolumeUsage {
  limitBytes: number;
  usedBytes: number;
  /** Bytes the volume takes on the host's disk. */
  allocatedBytes: number;
}

export interface VolumeDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  create(volume: string, sizeBytes: number): Promise<void>;
  /** Makes the volume's files appear at `mountpoint`. */
  activate(volume: string, mountpoint: string): Promise<void>;
  deactivate(mountpoint: string): Promise<void>;
  resize(volume: string, mountpoint: string, sizeBytes: number): Promise<void>;
  usage(volume: string, mountpoint: string): Promise<VolumeUsage | null>;
  /** The block device (major:minor) that holds the volume's data, for I/O limits. */
  device(volume: string): Promise<{ major: number; minor: number } | null>;
  remove(volume: string): Promise<void>;
  /** Every volume the driver has, for reconciliation. */
  list(): Promise<string[]>;
  /** Gives a volume (and its snapshots) another name; a mount of it stays where it is. */
  rename(volume: string, to: string): Promise<void>;
  /** With `capabilities.snapshots`: an instant read-only copy of the volume's files, kept beside it under `name`. */
  snapshot?(volume: string, name: string): Promise<void>;
  /** Puts a snapshot's files back as the volume's, keeping its limit; the volume is not in use (deactivated by the caller). */
  restoreSnapshot?(volume: string, name: string): Promise<void>;
  removeSnapshot?(volume: string, name: string): Promise<void>;
  /** With `capabilities.snapshots`: replaces the volume's files by an instant writable copy of `source`'s, keeping its limit; the volume is not in use. */
  cloneFrom?(volume: string, source: string): Promise<void>;
}
