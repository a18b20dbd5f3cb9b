// lzwcheck answers with Go's standard library, so the TypeScript LZW and
// CRC-32 code can be checked against the implementations memberlist uses.
//
// It reads requests from stdin until EOF, each [op byte][u32 BE length][data]:
//
//	'c'  compress data with compress/lzw (LSB order, literal width 8)
//	'd'  decompress data the same way
//	'k'  CRC-32 (IEEE) of data, 4 bytes big-endian
//
// and answers each with [status byte][u32 BE length][data]: status 0 carries
// the result, status 1 an error message. Standard library only.
package main

import (
	"bufio"
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

const requestBytesMax = 64 << 20

func compress(data []byte) ([]byte, error) {
	var out bytes.Buffer
	w := lzw.NewWriter(&out, lzw.LSB, 8)
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func decompress(data []byte) ([]byte, error) {
	r := lzw.NewReader(bytes.NewReader(data), lzw.LSB, 8)
	defer r.Close()
	return io.ReadAll(r)
}

func answer(op byte, data []byte) ([]byte, error) {
	switch op {
	case 'c':
		return compress(data)
	case 'd':
		return decompress(data)
	case 'k':
		sum := make([]byte, 4)
		binary.BigEndian.PutUint32(sum, crc32.ChecksumIEEE(data))
		return sum, nil
	default:
		return nil, fmt.Errorf("unknown op %q", op)
	}
}

func writeFrame(w io.Writer, status byte, data []byte) error {
	header := make([]byte, 5)
	header[0] = status
	binary.BigEndian.PutUint32(header[1:], uint32(len(data)))
	if _, err := w.Write(header); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

func main() {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	header := make([]byte, 5)
	for {
		if _, err := io.ReadFull(in, header); err != nil {
			if err == io.EOF {
				return
			}
			fmt.Fprintln(os.Stderr, "lzwcheck: reading request header:", err)
			os.Exit(2)
		}
		length := binary.BigEndian.Uint32(header[1:])
		if length > requestBytesMax {
			fmt.Fprintln(os.Stderr, "lzwcheck: request too large:", length)
			os.Exit(2)
		}
		data := make([]byte, length)
		if _, err := io.ReadFull(in, data); err != nil {
			fmt.Fprintln(os.Stderr, "lzwcheck: reading request body:", err)
			os.Exit(2)
		}
		result, err := answer(header[0], data)
		if err != nil {
			err = writeFrame(out, 1, []byte(err.Error()))
		} else {
			err = writeFrame(out, 0, result)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "lzwcheck: writing answer:", err)
			os.Exit(2)
		}
	}
}
