// Integration (root, real kernel): every volume driver of the registry passes the conformance
// suite: loop-ext4 on sparse ext4 images, btrfs on a loop-mounted btrfs pool with qgroups.
import { VOLUME_DRIVERS } from './index.js';
import { volumeConformance } from './volume.conformance.js';

for (const [name, make] of Object.entries(VOLUME_DRIVERS)) volumeConformance(name, make);
