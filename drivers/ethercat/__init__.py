"""EtherCAT: the line description generated from the object dictionary (SII EEPROM, ESI XML),
an ESC emulator whose slaves run the board application, and the SOEM master glue.

Only :mod:`cerebellum_rt.drivers.ethercat.master` (and the tools that use it) import pysoem, the
optional ``ethercat`` extra (pysoem bundles a GPLv2 SOEM): importing this package, the SII/ESI
generators or the emulator never loads it.
"""
