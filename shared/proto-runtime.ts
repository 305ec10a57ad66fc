// Configures protobufjs before the generated code loads: 64-bit fields (sequence numbers,
// unix-millisecond timestamps, byte counts) are plain JavaScript numbers, never Long.
// All of them stay far below 2^53. Imported first by shared/proto.ts.
import $protobuf from "protobufjs/minimal.js";

$protobuf.util.Long = undefined as unknown as typeof $protobuf.util.Long;
$protobuf.configure();
