import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { burstFor, formatRate, parseRate } from './rates.js';

describe('rates', () => {
  test('parses tc units: bits and bytes, SI and IEC', () => {
    assert.equal(parseRate('10mbit'), 10_000_000);
    assert.equal(parseRate('1gbit'), 1e9);
    assert.equal(parseRate('500kbit'), 500_000);
    assert.equal(parseRate('1mbps'), 8_000_000);
    assert.equal(parseRate('1.5Mbit'), 1_500_000);
    assert.equal(parseRate('1mibit'), 1024 * 1024);
    assert.equal(parseRate('100000'), 100_000);
  });

  test('refuses junk and out-of-range rates with the accepted forms', () => {
    for (const bad of ['', 'fast', '10 megabit', '-1mbit', '10mbitx', '1e6bit']) {
      assert.throws(() => parseRate(bad, 'inbound rate (--net-in)'), /invalid inbound rate \(--net-in\).*10mbit/, bad);
    }
    assert.throws(() => parseRate('1bit'), /between 8kbit and 100gbit/);
    assert.throws(() => parseRate('1tbit'), /between 8kbit and 100gbit/);
  });

  test('formats back and sizes bursts', () => {
    assert.equal(formatRate(10_000_000), '10mbit');
    assert.equal(formatRate(1_500_000), '1500kbit');
    assert.equal(formatRate(1234), '1234bit');
    assert.equal(burstFor(8_000_000), 524_288);
    assert.equal(burstFor(1e9), 5e7);
  });
});
