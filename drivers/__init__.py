"""drivers: the Transport base and bus backends, the CANopen/CiA 402 object dictionary, and the emulated actuator boards."""
