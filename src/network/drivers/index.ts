/** The network drivers: a driver is its folder and its entry here. */
import { InvalidArgument } from '../../errors/index.js';
import type { NetworkDriver } from '../driver.js';
import { bridgeDriver } from './bridge/index.js';
import { macvlanDriver } from './macvlan/index.js';

export const NETWORK_DRIVERS: Readonly<Record<string, NetworkDriver>> = { bridge: bridgeDriver, macvlan: macvlanDriver };

export const DEFAULT_NETWORK_DRIVER = 'bridge';

export function networkDriver(name: string): NetworkDriver {
  const d = NETWORK_DRIVERS[name];
  if (!d) throw new InvalidArgument(`unknown network driver ${JSON.stringify(name)}: use one of ${Object.keys(NETWORK_DRIVERS).join(', ')}`);
  return d;
}
