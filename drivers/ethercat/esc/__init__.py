"""ESC emulator: EtherCAT slave controllers in software, whose slaves run the board application.

* :mod:`.slave` - one ESC: register file and process RAM, FMMUs, SyncManagers (mailbox and
  buffered), SII EEPROM interface, AL state machine with status codes, process-data watchdog,
  distributed-clock registers;
* :mod:`.coe` - the CoE mailbox: SDO server (expedited, normal, segmented, complete access);
* :mod:`.foe` - the FoE mailbox protocol (write in BOOT, read back);
* :mod:`.firmware` - the files behind it: the board's image slots through its bootloader;
* :mod:`.pdi` - the slaves' applications in worker processes (shared-memory process data);
* :mod:`.line` - the datagram engine over a line of ESCs (every command, working counters,
  auto-increment / configured / broadcast / logical addressing) and the raw-socket server
  that answers frames on a network interface (the far end of a veth pair in its own netns);
* :mod:`.cengine` - the same datagram engine compiled (``c/esc_engine.c``), with its frame loop
  on the raw socket; datagrams with side effects go to the Python engine, the specification.
"""
