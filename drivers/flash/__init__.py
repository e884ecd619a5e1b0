"""Program download (CiA 302-3) to actuator boards: the host side, and the contract with the boards.

The contract below is what the Python board (:mod:`cerebellum_rt.drivers.board.flashing`, the
executable specification) and the C firmware's bootloader both follow; the objects themselves are
in :func:`cerebellum_rt.drivers.od.program_download_objects`, on every board type's table.

Objects
-------
* 0x1F50:1 ``program_data`` DOMAIN, wo: the bytes go to the INACTIVE slot, appended at the
  current download offset (0x5F50:1). Downloaded by SDO block transfer (segmented is accepted
  too). Every acknowledged sub-block is programmed to flash before the ack, so what was acked
  survives a power cut. Bytes beyond the slot abort 0x06070012 and set error 11.
* 0x1F51:1 ``program_control`` u8, rw. Write 3 = clear (erase the inactive slot, offset 0);
  1 = start (verify the inactive slot's image completely: SHA-256, Ed25519 signature, board
  type, security counter >= the installed one; on success mark it for a TEST boot and reset into
  it; on failure abort the SDO with 0x08000024 "no data available" (0x08000000 where no data
  fits the case) and set the 0x1F57 error); 0 = stop (ends a download; the slot is kept for a
  resume); 2 = reset (reboot the board); 0x80 = confirm the running image (manufacturer value;
  the firmware also confirms itself after its self-test). Read: 0 stopped, 1 running.
* 0x1F56:1 ``program_software_identification`` u32, ro: the version of the RUNNING image,
  ``major << 24 | minor << 16 | revision`` (the MCUboot header's version).
* 0x1F57:1 ``flash_status_identification`` u32, ro: bit 0 = busy; bits 1..7 = error code
  (CiA 302-3: 0 ok, 1 no valid program, 2 data format unknown, 3 data format error / CRC, 4 flash
  not cleared, 5 flash write error, 6 general address error, 7 flash secured; manufacturer from
  8: 8 signature invalid, 9 wrong board type, 10 security counter lower than installed, 11 image
  larger than the slot, 12 hash mismatch, 13 image header invalid); bits 16..31 manufacturer:
  bit 16 = the active slot (0 = A, 1 = B), bit 17 = the running image is in test boot.
* 0x5F50 ``program_download`` RECORD: :1 ``offset`` u32 rw (read: bytes programmed and
  acknowledged in the inactive slot; write: resume at that offset, which must be <= the
  programmed bytes and a multiple of the flash program unit 8, else SDO abort 0x06090030),
  :2 ``slot_size`` u32 ro (65536 by default), :3 ``board_type`` u32 ro (the product code that
  the image must carry), :4 ``security_counter`` u32 ro (the installed security counter: an
  image below it is refused), :5 ``key_id`` u32 ro (the first 4 bytes of the trusted public
  key's MCUboot KEYHASH, i.e. SHA-256 of its DER SubjectPublicKeyInfo, read little endian; 0 =
  no key configured). :4 and :5 let ``cbl flash --dry-run`` tell a board's refusal in advance.

Image
-----
MCUboot's format, made and signed by MCUboot's ``imgtool`` (Ed25519 over the header + payload +
protected TLVs, SHA-256 TLV, version and security counter). The board type is a protected
custom TLV, type 0xA0 (``imgtool sign --custom-tlv 0xa0 0x<LE bytes>``), holding the 32-bit
product code (0x1018:2) of the board type, little endian.

A download, as the host runs it: read 0x1018:2 / 0x5F50:3 (board type), 0x1F56:1; write 0x1F51:1
= 3 (clear); block-download 0x1F50:1; on a bus cut read 0x5F50:1, write it back (rounded down to
8) and download the rest; write 0x1F51:1 = 1 (start: the board verifies and reboots into the
test image); wait for the boot-up; read 0x1F56:1 and 0x1F57:1 (test boot bit); write 0x1F51:1 =
0x80 (confirm). A reset before the confirm reverts to the previous image.

EtherCAT (:mod:`cerebellum_rt.drivers.ethercat.flash`): the same objects over CoE, and FoE in BOOT
instead of the 0x1F50 download: the file goes into the inactive slot through the same clear,
offset, stream and start of the board (:mod:`cerebellum_rt.drivers.ethercat.esc.firmware`; a
file ``NAME@OFFSET`` resumes at 0x5F50:1, FoE having no offset of its own); the end of the image
verifies it (a refusal is an FoE ERR naming the check, and 0x1F57 holds its code); leaving BOOT
resets the board into the test boot; then 0x1F56:1, 0x1F57:1 and the confirm over CoE.
"""
