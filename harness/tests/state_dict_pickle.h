// A state_dict pickle written opcode by opcode, as torch.save (protocol 2) writes data.pkl:
// OrderedDict(weight=<2x3 view>, bias=<2-element view>) over one FloatStorage "0" of 8
// elements (bias starts at element 6), with memo references between the two tensors. The pickle
// tests read it, and fuzz/make_seeds.cpp gives it to the pickle fuzz target as its seed.
#pragma once

#include <string>

namespace ubp::testing {

inline std::string two_view_state_dict_pickle() {
  using namespace std::string_literals;  // the opcodes hold NUL bytes
  const auto text = [](const std::string& s) {  // BINUNICODE
    std::string out = "X";
    for (int i = 0; i < 4; ++i) out += static_cast<char>((s.size() >> (8 * i)) & 0xff);
    return out + s;
  };
  std::string p = "\x80\x02"s;
  p += "ccollections\nOrderedDict\nq\x00)Rq\x01("s;
  p += text("weight") + "ctorch._utils\n_rebuild_tensor_v2\nq\x02("s;
  p += "("s + text("storage") + "ctorch\nFloatStorage\nq\x03"s + text("0") + text("cpu") + "K\x08tq\x04Q"s;
  p += "K\x00K\x02K\x03\x86K\x03K\x01\x86\x89"s + "ccollections\nOrderedDict\n)Rtq\x05R"s;
  p += text("bias") + "h\x02(h\x04QK\x06K\x02\x85K\x01\x85\x89h\x00)RtR"s;
  return p + "u."s;
}

}  // namespace ubp::testing
